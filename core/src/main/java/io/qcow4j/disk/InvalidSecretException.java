package io.qcow4j.disk;

/**
 * An encrypted image could not be unlocked: no secret was given, or the one given opens none of
 * its key slots (QEMU's "Invalid password, cannot unlock any keyslot"). Never carries the secret.
 */
public final class InvalidSecretException extends ImageException {
  private static final long serialVersionUID = 1L;

  /** A failure with {@code message}. */
  public InvalidSecretException(String message) {
    super(message);
  }
}
