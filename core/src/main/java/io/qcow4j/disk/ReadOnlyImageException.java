package io.qcow4j.disk;

/** A write was attempted on an image opened read-only (or that can only be opened read-only). */
public final class ReadOnlyImageException extends ImageException {
  private static final long serialVersionUID = 1L;

  /** A refused write, as {@code message} says. */
  public ReadOnlyImageException(String message) {
    super(message);
  }
}
