package io.qcow4j.qcow2.format;

/**
 * Decoding of refcount table entries: the refcount block offset (bits 9-63) and the reserved bits
 * 0-8, which must be zero. Bit 63 is part of the offset, so an entry with it set points past
 * anything a file can hold.
 */
public final class RefcountTableEntry {
  /** Bits that must be zero: 0-8. */
  public static final long RESERVED_MASK = 0x1ffL;
  public static final long OFFSET_MASK = ~RESERVED_MASK;

  private RefcountTableEntry() {}

  /** The host offset of the refcount block, 0 when none is allocated; negative when bit 63 is set. */
  public static long blockOffset(long entry) {
    return entry & OFFSET_MASK;
  }

  public static boolean hasReservedBits(long entry) {
    return (entry & RESERVED_MASK) != 0;
  }
}
