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
    BLOCK_STATUS,
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

  public Stage stage() {
    return stage;
  }

  public int image() {
    return image;
  }

  public long offset() {
    return offset;
  }
}
