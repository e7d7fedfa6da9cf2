package io.qcow4j.nbd;

import java.io.IOException;

/** The client broke a rule of the protocol that leaves no way to answer it: the connection is dropped. */
final class ProtocolException extends IOException {
  private static final long serialVersionUID = 1L;

  ProtocolException(String message) {
    super(message);
  }
}
