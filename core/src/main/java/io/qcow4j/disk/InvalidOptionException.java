package io.qcow4j.disk;

import java.io.IOException;

/**
 * Options that qemu-img would refuse: an unknown name, a value of the wrong type, a combination the
 * format forbids. The message is qemu-img's for the same input (a line with a hint under it, at
 * times), without the file name in front.
 */
public final class InvalidOptionException extends IOException {
  private static final long serialVersionUID = 1L;

  public InvalidOptionException(String message) {
    super(message);
  }
}
