package io.qcow4j.qcow2;

import java.nio.file.FileSystemException;

/**
 * A write refused because the metadata overlap check itself failed (a snapshot's L1 table the
 * inactive L2 check cannot read): QEMU fails the write with qcow2_validate_table's errno, EINVAL
 * or EFBIG, without marking the image corrupt.
 */
final class OverlapCheckFailedException extends FileSystemException {
  private static final long serialVersionUID = 1L;

  OverlapCheckFailedException(String detail, boolean tooLarge) {
    super(detail, null, tooLarge ? "File too large" : "Invalid argument");
  }
}
