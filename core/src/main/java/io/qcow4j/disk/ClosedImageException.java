package io.qcow4j.disk;

import java.nio.channels.ClosedChannelException;

/** A call on a {@link DiskFile} after it was closed; a {@link ClosedChannelException} that names the image. */
public final class ClosedImageException extends ClosedChannelException {
  private static final long serialVersionUID = 1L;

  private final String name;

  public ClosedImageException(String name) {
    this.name = name;
  }

  @Override
  public String getMessage() {
    return name + ": image is closed";
  }
}
