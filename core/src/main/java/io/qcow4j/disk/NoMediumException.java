package io.qcow4j.disk;

import java.nio.file.FileSystemException;

/**
 * A request to an image that a failure made unusable for the rest of its open (QEMU sets the
 * node's driver to NULL): a corruption that marked the image corrupt, or a change that left its
 * metadata undescribed. The reason is strerror's words for QEMU's ENOMEDIUM, "No medium found".
 */
public final class NoMediumException extends FileSystemException {
  private static final long serialVersionUID = 1L;

  /** A request to the image {@code file} after it became unusable. */
  public NoMediumException(String file) {
    super(file, null, "No medium found");
  }
}
