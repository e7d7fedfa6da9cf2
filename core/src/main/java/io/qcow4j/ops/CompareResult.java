package io.qcow4j.ops;

/**
 * What qemu-img compare concludes. {@code offset} is the first differing offset (sector-granular,
 * as qemu-img reports it) for a content or strict status mismatch, else -1. {@code sizeMismatch}
 * says that the sizes differ and the tail of the larger image was checked against zeros (qemu-img's
 * "Warning: Image size mismatch!", printed before the verdict).
 */
public record CompareResult(Outcome outcome, long offset, boolean sizeMismatch) {

  /** The verdicts of qemu-img compare. */
  public enum Outcome {
    /** Same content (the larger image's tail reads as zeros). */
    IDENTICAL,
    /** Content differs at {@code offset}. */
    CONTENT_MISMATCH,
    /** Strict mode: the sizes differ. */
    STRICT_SIZE_MISMATCH,
    /** Strict mode: the allocation status differs at {@code offset}. */
    STRICT_STATUS_MISMATCH
  }

  /** Whether the images count as identical (exit status 0). */
  public boolean identical() {
    return outcome == Outcome.IDENTICAL;
  }
}
