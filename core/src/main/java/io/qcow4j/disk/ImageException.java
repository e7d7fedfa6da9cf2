package io.qcow4j.disk;

import java.io.IOException;

/** Base of the failures that concern the content of an image file rather than the host I/O. */
public abstract sealed class ImageException extends IOException
    permits BitmapException, CheckFailedException, CorruptImageException, ImageLimitException, ImageLockedException, InvalidSecretException, ProbedRawWriteException,
    ReadOnlyImageException, RefcountOverflowException, SnapshotLoadException, UnsupportedFeatureException {
  private static final long serialVersionUID = 1L;

  ImageException(String message) {
    super(message);
  }

  ImageException(String message, Throwable cause) {
    super(message, cause);
  }
}
