package io.qcow4j.disk;

import java.util.Objects;

/**
 * Which internal snapshot to read an image as (qemu-img convert's {@code -l}, qemu-nbd's
 * {@code --load-snapshot}): by id and/or name, or by a word that is tried as an id first and then
 * as a name, as QEMU finds it.
 */
public final class SnapshotSelector {
  private final String id;
  private final String name;
  private final boolean idOrName;

  private SnapshotSelector(String id, String name, boolean idOrName) {
    this.id = id;
    this.name = name;
    this.idOrName = idOrName;
  }

  /** The snapshot whose id is {@code word}, else the one named {@code word}. */
  public static SnapshotSelector idOrName(String word) {
    Objects.requireNonNull(word, "word");
    return new SnapshotSelector(word, word, true);
  }

  /** The snapshot with this id (null: any) and this name (null: any); at least one is given. */
  public static SnapshotSelector of(String id, String name) {
    if (id == null && name == null) {
      throw new IllegalArgumentException("a snapshot is selected by its id, its name or both");
    }
    return new SnapshotSelector(id, name, false);
  }

  /** The id asked for; null when any id will do. */
  public String id() {
    return id;
  }

  /** The name asked for; null when any name will do. */
  public String name() {
    return name;
  }

  /** Whether the selector is one word tried as an id, then as a name. */
  public boolean idOrName() {
    return idOrName;
  }

  /** Whether a snapshot with {@code snapshotId} and {@code snapshotName} is the one selected. */
  public boolean matches(String snapshotId, String snapshotName) {
    return (id == null || id.equals(snapshotId)) && (name == null || name.equals(snapshotName));
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof SnapshotSelector that && Objects.equals(id, that.id) && Objects.equals(name, that.name)
        && idOrName == that.idOrName;
  }

  @Override
  public int hashCode() {
    return Objects.hash(id, name, idOrName);
  }

  @Override
  public String toString() {
    return idOrName ? id : "snapshot.id=" + id + ",snapshot.name=" + name;
  }
}
