package io.qcow4j.crypto;

/**
 * A cipher, mode, hash or header field qcow4j cannot use, with QEMU's message where QEMU has one;
 * the caller turns it into the image's exception with the file's name. Never carries a secret.
 */
public final class CryptoException extends Exception {
  private static final long serialVersionUID = 1L;

  /** A failure with {@code message}. */
  public CryptoException(String message) {
    super(message);
  }
}
