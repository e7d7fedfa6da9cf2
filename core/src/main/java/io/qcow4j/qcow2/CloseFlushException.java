package io.qcow4j.qcow2;

import java.io.IOException;
import java.nio.file.FileSystemException;

/**
 * The failures of a close's cache flushes, one line each as QEMU's qcow2_inactivate reports them
 * ("Failed to flush the L2 table cache: Input/output error"): the first is the message, each later
 * one a suppressed exception, so a tool prints every line.
 */
final class CloseFlushException extends IOException {
  private static final long serialVersionUID = 1L;

  private CloseFlushException(String message, IOException cause) {
    super(message, cause);
  }

  /** {@code failure} with the line "{@code what}: reason of {@code cause}" added (a new one when null). */
  static CloseFlushException add(CloseFlushException failure, String what, IOException cause) {
    CloseFlushException line = new CloseFlushException(what + ": " + reason(cause), cause);
    if (failure == null) {
      return line;
    }
    failure.addSuppressed(line);
    return failure;
  }

  /** strerror's text for a host I/O failure, the message otherwise. */
  private static String reason(IOException cause) {
    if (cause instanceof FileSystemException fileFailure && fileFailure.getReason() != null) {
      return fileFailure.getReason();
    }
    return cause.getMessage() != null ? cause.getMessage() : cause.getClass().getSimpleName();
  }
}
