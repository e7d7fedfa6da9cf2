package io.qcow4j.disk;

/**
 * A change refused because it would take a cluster's refcount past the largest value the image's
 * refcount width holds (QEMU refuses it with EINVAL); nothing was changed.
 */
public final class RefcountOverflowException extends ImageException {
  private static final long serialVersionUID = 1L;

  /** A refused refcount increase, as {@code message} says (file, cluster offset and width). */
  public RefcountOverflowException(String message) {
    super(message);
  }
}
