package io.qcow4j.disk;

/**
 * What a user of an image file may do with it, and may let others do: QEMU's block permissions,
 * in the order of the lock bytes that stand for them (byte 100 + ordinal while the permission is
 * held, byte 200 + ordinal while it is not shared).
 */
public enum Permission {
  /** Reading data that stays consistent, as every image reader needs. */
  CONSISTENT_READ("consistent read"),
  /** Changing the file's data. */
  WRITE("write"),
  /** Writing data that does not change what a reader sees. */
  WRITE_UNCHANGED("write unchanged"),
  /** Changing the file's length. */
  RESIZE("resize");

  private final String qemuName;

  Permission(String qemuName) {
    this.qemuName = qemuName;
  }

  /** The name QEMU's messages use ("consistent read", "write", "write unchanged", "resize"). */
  public String qemuName() {
    return qemuName;
  }
}
