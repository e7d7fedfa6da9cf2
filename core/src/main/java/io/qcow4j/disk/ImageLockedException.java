package io.qcow4j.disk;

import java.nio.file.Path;

/**
 * An image could not be opened because another process (or another open in this one) holds it in
 * a way that excludes this use: QEMU's "Failed to get "write" lock".
 */
public final class ImageLockedException extends ImageException {
  private static final long serialVersionUID = 1L;

  private final transient Path file;
  private final Permission permission;
  private final boolean shared;

  /**
   * {@code shared} false: another user does not share {@code permission}, which this open needs;
   * true: another user holds {@code permission}, which this open does not share.
   */
  public ImageLockedException(Path file, Permission permission, boolean shared) {
    super("Failed to get " + (shared ? "shared " : "") + "\"" + permission.qemuName() + "\" lock");
    this.file = file;
    this.permission = permission;
    this.shared = shared;
  }

  /** The locked file (an image, a backing file or a data file). */
  public Path file() {
    return file;
  }

  /** The permission in conflict. */
  public Permission permission() {
    return permission;
  }

  /** Whether the conflict is another user's hold of a permission this open would not share. */
  public boolean shared() {
    return shared;
  }

  /** QEMU's hint under the message: "Is another process using the image [file]?". */
  public String hint() {
    return "Is another process using the image [" + file + "]?";
  }
}
