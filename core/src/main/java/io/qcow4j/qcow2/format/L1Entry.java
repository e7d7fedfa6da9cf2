package io.qcow4j.qcow2.format;

/** Decoding of L1 table entries: the L2 table offset (bits 9-55) and the COPIED flag (bit 63). */
public final class L1Entry {
  public static final long COPIED = 1L << 63;
  public static final long OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
  /** Bits that must be zero: 0-8 and 56-62. */
  public static final long RESERVED_MASK = 0x7f00_0000_0000_01ffL;

  private L1Entry() {}

  /** The host offset of the L2 table, 0 when none is allocated. */
  public static long l2Offset(long entry) {
    return entry & OFFSET_MASK;
  }

  public static boolean copied(long entry) {
    return (entry & COPIED) != 0;
  }

  /** An entry pointing at the L2 table at {@code l2Offset}. */
  public static long of(long l2Offset, boolean copied) {
    return (l2Offset & OFFSET_MASK) | (copied ? COPIED : 0);
  }
}
