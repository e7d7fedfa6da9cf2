package io.qcow4j.nbd;

import java.io.IOException;

/**
 * A request the NBD server answered with an error (or that failed with the connection): the
 * message is the system's words for the error as QEMU's tools print them ("Input/output error").
 */
public final class NbdErrorException extends IOException {
  private static final long serialVersionUID = 1L;

  private final int error;

  NbdErrorException(int error) {
    super(describe(error));
    this.error = error;
  }

  NbdErrorException(int error, Throwable cause) {
    super(describe(error), cause);
    this.error = error;
  }

  /** The error's number on the wire (the protocol's are Linux's errno values). */
  public int error() {
    return error;
  }

  /** strerror of the errors the NBD protocol carries. */
  static String describe(int error) {
    return switch (error) {
      case Protocol.EPERM -> "Operation not permitted";
      case Protocol.EIO -> "Input/output error";
      case Protocol.ENOMEM -> "Cannot allocate memory";
      case Protocol.EINVAL -> "Invalid argument";
      case Protocol.ENOSPC -> "No space left on device";
      case Protocol.EOVERFLOW -> "Value too large for defined data type";
      case Protocol.ENOTSUP -> "Operation not supported";
      case Protocol.ESHUTDOWN -> "Cannot send after transport endpoint shutdown";
      default -> "Unknown error " + error;
    };
  }
}
