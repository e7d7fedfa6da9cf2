package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.SnapshotInfo;
import io.qcow4j.disk.UnsupportedFeatureException;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.util.List;

/**
 * qemu-img snapshot: list, create, apply and delete internal snapshots, found as qemu-img finds
 * them: apply by id first and then by name, delete by name only (names need not be unique; the
 * first match is deleted by its id). A raw image lists none and takes none.
 */
public final class ImageSnapshots {
  private ImageSnapshots() {}

  /** A snapshot operation refused before anything changed. */
  public static final class SnapshotException extends IOException {
    private static final long serialVersionUID = 1L;

    /** Why: qemu-img words each case in its own way. */
    public enum Refusal {
      /** The image takes no internal snapshots, or not this operation. */
      NOT_SUPPORTED,
      /** No snapshot has that name (or id). */
      NOT_FOUND
    }

    private final Refusal refusal;

    SnapshotException(Refusal refusal, String message, Throwable cause) {
      super(message, cause);
      this.refusal = refusal;
    }

    /** Which refusal this is. */
    public Refusal refusal() {
      return refusal;
    }
  }

  /** The snapshots in table order; none for an image without snapshot support. */
  public static List<SnapshotInfo> list(DiskFile disk) throws IOException {
    return disk.snapshots();
  }

  /**
   * Creates a snapshot of the current state named {@code name}; NOT_SUPPORTED where the image takes
   * none (raw, qcow2 with an external data file: QEMU's ENOTSUP).
   */
  public static SnapshotInfo create(DiskFile disk, String name) throws IOException {
    try {
      return disk.createSnapshot(name);
    } catch (UnsupportedFeatureException e) {
      throw new SnapshotException(SnapshotException.Refusal.NOT_SUPPORTED, e.getMessage(), e);
    }
  }

  /** Reverts the disk to the snapshot with this id, else the first with this name. */
  public static void apply(DiskFile disk, String nameOrId) throws IOException {
    try {
      // DiskFile's lookup is qemu-img's for -a: by id first, then by name
      disk.applySnapshot(nameOrId);
    } catch (UnsupportedFeatureException e) {
      throw new SnapshotException(SnapshotException.Refusal.NOT_SUPPORTED, e.getMessage(), e);
    } catch (NoSuchFileException e) {
      throw new SnapshotException(SnapshotException.Refusal.NOT_FOUND, "snapshot '" + nameOrId + "' not found", e);
    }
  }

  /** Deletes the first snapshot named {@code name}. */
  public static void delete(DiskFile disk, String name) throws IOException {
    SnapshotInfo snapshot = disk.snapshots().stream().filter(s -> s.name().equals(name)).findFirst().orElse(null);
    if (snapshot == null) {
      throw new SnapshotException(SnapshotException.Refusal.NOT_FOUND, "snapshot '" + name + "' not found", null);
    }
    // ids are unique where names need not be: the snapshot found by name is deleted by its id
    disk.deleteSnapshot(snapshot.id());
  }
}
