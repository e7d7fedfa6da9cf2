package io.qcow4j.disk;

/** A field asks for more than the engine's limits allow (table size, chain depth, name length). */
public final class ImageLimitException extends ImageException {
  private static final long serialVersionUID = 1L;

  /** A limit exceeded, as {@code message} says. */
  public ImageLimitException(String message) {
    super(message);
  }
}
