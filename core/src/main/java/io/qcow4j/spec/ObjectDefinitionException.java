package io.qcow4j.spec;

/** An --object argument that defines no usable object; the message is QEMU's for the same mistake. */
public final class ObjectDefinitionException extends Exception {
  private static final long serialVersionUID = 1L;

  /** An object definition refused with QEMU's {@code message}. */
  public ObjectDefinitionException(String message) {
    super(message);
  }
}
