package io.qcow4j.storage;

import java.nio.channels.ClosedChannelException;

/** A call on a storage after it was closed; a {@link ClosedChannelException} that names the file. */
public final class ClosedStorageException extends ClosedChannelException {
  private static final long serialVersionUID = 1L;

  private final String name;

  /** A call on the storage named {@code name} after it was closed. */
  public ClosedStorageException(String name) {
    this.name = name;
  }

  @Override
  public String getMessage() {
    return name + ": storage is closed";
  }
}
