package io.qcow4j.disk;

/** The image's metadata contradicts the format: the message names the file, the table and the offset. */
public final class CorruptImageException extends ImageException {
  private static final long serialVersionUID = 1L;

  /** A corruption described by {@code message}, which names the file and the offset. */
  public CorruptImageException(String message) {
    super(message);
  }

  /** A corruption described by {@code message}, found through {@code cause}. */
  public CorruptImageException(String message, Throwable cause) {
    super(message, cause);
  }
}
