package io.qcow4j.disk;

/** The image uses a feature this engine does not implement; the message names the feature. */
public final class UnsupportedFeatureException extends ImageException {
  private static final long serialVersionUID = 1L;

  /** A feature not implemented, named by {@code message}. */
  public UnsupportedFeatureException(String message) {
    super(message);
  }
}
