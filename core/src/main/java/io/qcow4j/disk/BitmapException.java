package io.qcow4j.disk;

/**
 * A bitmap operation refused as QEMU refuses it ("Dirty bitmap 'x' not found", "Bitmap already
 * exists: x", ...); {@link #hint()} is QEMU's hint line, or null.
 */
public final class BitmapException extends ImageException {
  private static final long serialVersionUID = 1L;
  /** QEMU's hint line for the refusal, or null. */
  private final String hint;

  /** A refusal with QEMU's {@code message} and no hint. */
  public BitmapException(String message) {
    this(message, null);
  }

  /** A refusal with QEMU's {@code message} and {@code hint} (null for none). */
  public BitmapException(String message, String hint) {
    super(message);
    this.hint = hint;
  }

  /** QEMU's hint line for the refusal, or null. */
  public String hint() {
    return hint;
  }
}
