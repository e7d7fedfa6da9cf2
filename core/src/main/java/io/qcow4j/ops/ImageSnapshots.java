package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.qcow2.format.Snapshot;
import java.io.IOException;
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
      NOT_SUPPORTED,
      NOT_FOUND
    }

    private final Refusal refusal;

    SnapshotException(Refusal refusal, String message) {
      super(message);
      this.refusal = refusal;
    }

    public Refusal refusal() {
      return refusal;
    }
  }

  /** The snapshots as info describes them; none for an image without snapshot support. */
  public static List<ImageInfo.SnapshotInfo> list(DiskFile disk) throws IOException {
    ImageInfo.Qcow2Info qcow2 = disk.info().qcow2();
    return qcow2 == null ? List.of() : qcow2.snapshots();
  }

  /** Creates a snapshot of the current state named {@code name}. */
  public static Snapshot create(DiskFile disk, String name) throws IOException {
    return qcow2(disk, name).createSnapshot(name);
  }

  /** Reverts the disk to the snapshot with this id, else the first with this name. */
  public static void apply(DiskFile disk, String nameOrId) throws IOException {
    QcowFile image = qcow2(disk, nameOrId);
    Snapshot snapshot = find(image.snapshots(), nameOrId, true);
    if (snapshot == null) {
      throw new SnapshotException(SnapshotException.Refusal.NOT_FOUND, "snapshot '" + nameOrId + "' not found");
    }
    image.applySnapshot(snapshot.id());
  }

  /** Deletes the first snapshot named {@code name}. */
  public static void delete(DiskFile disk, String name) throws IOException {
    Snapshot snapshot = disk instanceof QcowFile image ? find(image.snapshots(), name, false) : null;
    if (snapshot == null) {
      throw new SnapshotException(SnapshotException.Refusal.NOT_FOUND, "snapshot '" + name + "' not found");
    }
    ((QcowFile) disk).deleteSnapshot(snapshot.id());
  }

  /** The first snapshot with this id (when {@code byIdFirst}) or else this name, as QEMU searches; null if none. */
  static Snapshot find(List<Snapshot> snapshots, String name, boolean byIdFirst) {
    if (byIdFirst) {
      for (Snapshot snapshot : snapshots) {
        if (snapshot.id().equals(name)) {
          return snapshot;
        }
      }
    }
    for (Snapshot snapshot : snapshots) {
      if (snapshot.name().equals(name)) {
        return snapshot;
      }
    }
    return null;
  }

  private static QcowFile qcow2(DiskFile disk, String name) throws SnapshotException {
    if (disk instanceof QcowFile image) {
      return image;
    }
    throw new SnapshotException(SnapshotException.Refusal.NOT_SUPPORTED,
        disk.format().id() + " images have no internal snapshots ('" + name + "')");
  }
}
