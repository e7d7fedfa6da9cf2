package io.qcow4j.ops;

import java.io.IOException;

/**
 * A compare that could not finish: reading the block status or the data of one of the two images
 * failed. {@code image} is 1 or 2 (which argument), {@code offset} where it failed.
 */
public final class CompareException extends IOException {
  private static final long serialVersionUID = 1L;

  /** The step that failed; qemu-img exits 3 for block status and 4 for reads. */
  public enum Stage {
    /** Reading the block status of a range failed. */
    BLOCK_STATUS,
    /** Reading the data of a range failed. */
    READ
  }

  private final Stage stage;
  private final int image;
  private final long offset;

  CompareException(Stage stage, int image, long offset, IOException cause) {
    super("image " + image + ": " + (stage == Stage.READ ? "read" : "block status") + " at offset " + offset
        + " failed: " + cause.getMessage(), cause);
    this.stage = stage;
    this.image = image;
    this.offset = offset;
  }

  /** The step that failed. */
  public Stage stage() {
    return stage;
  }

  /** Which image failed: 1 for the first argument, 2 for the second. */
  public int image() {
    return image;
  }

  /** The guest offset where it failed. */
  public long offset() {
    return offset;
  }
}
