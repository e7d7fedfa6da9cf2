package io.qcow4j.disk;

/**
 * The internal snapshot an open asked to read the image as cannot be loaded: it is not in the image
 * ("Can't find snapshot"), the format has none, or the open is not read-only. QEMU reports these
 * as "Failed to load snapshot: REASON"; {@link #reason()} is that REASON.
 */
public final class SnapshotLoadException extends ImageException {
  private static final long serialVersionUID = 1L;

  private final String reason;

  /** {@code image} names the image, {@code reason} says why in QEMU's words. */
  public SnapshotLoadException(String image, String reason) {
    super(image + ": " + reason);
    this.reason = reason;
  }

  /** Why, in QEMU's words, without the image's name. */
  public String reason() {
    return reason;
  }
}
