package io.qcow4j.disk;

import java.io.IOException;

/** Base of the failures that concern the content of an image file rather than the host I/O. */
public abstract class ImageException extends IOException {
  private static final long serialVersionUID = 1L;

  protected ImageException(String message) {
    super(message);
  }

  protected ImageException(String message, Throwable cause) {
    super(message, cause);
  }
}
