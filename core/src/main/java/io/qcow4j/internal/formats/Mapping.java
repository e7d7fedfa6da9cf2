package io.qcow4j.internal.formats;

/**
 * How {@code length} guest bytes of a read-only image are stored: {@code state} says where they
 * come from and {@code hostOffset} where they start in the image file (for data), or the format's
 * descriptor (for compressed ranges), else -1.
 */
public record Mapping(long length, State state, long hostOffset) {
  /** Where guest bytes come from, with the block status QEMU reports for each. */
  public enum State {
    /** Host data at the offset (BDRV_BLOCK_DATA with an offset). */
    DATA,
    /** Host data whose host-file holes read as zeros (BDRV_BLOCK_RECURSE: a static VDI, a fixed VHD). */
    DATA_RECURSE,
    /** Allocated as zeros in this image (BDRV_BLOCK_ZERO). */
    ZERO,
    /** Not allocated here: the backing file's bytes, or zeros without one. */
    UNALLOCATED,
    /** A compressed range, read by the format. */
    COMPRESSED
  }

  /** Host data at {@code hostOffset}. */
  public static Mapping data(long length, long hostOffset) {
    return new Mapping(length, State.DATA, hostOffset);
  }

  /** A range allocated as zeros. */
  public static Mapping zero(long length) {
    return new Mapping(length, State.ZERO, -1);
  }

  /** A range not allocated in this image. */
  public static Mapping unallocated(long length) {
    return new Mapping(length, State.UNALLOCATED, -1);
  }
}
