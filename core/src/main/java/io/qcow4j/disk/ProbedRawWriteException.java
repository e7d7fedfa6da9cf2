package io.qcow4j.disk;

/**
 * A write to the first sector of a raw image opened by probing was refused because the image would
 * then probe as another format (QEMU refuses it with EPERM, "Operation not permitted").
 */
public final class ProbedRawWriteException extends ImageException {
  private static final long serialVersionUID = 1L;

  public ProbedRawWriteException(String message) {
    super(message);
  }
}
