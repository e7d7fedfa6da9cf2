package io.qcow4j.nbd;

import java.io.IOException;

/**
 * The server refused an option of the handshake: QEMU's message for the refusal, and the line it
 * prints under it ("server reported: ..." with the server's own words, or the TLS hint); null when
 * there is none.
 */
public final class NbdOptionException extends IOException {
  private static final long serialVersionUID = 1L;

  private final String hint;

  NbdOptionException(String message, String hint) {
    super(message);
    this.hint = hint;
  }

  /** The line QEMU prints under the message, or null. */
  public String hint() {
    return hint;
  }
}
