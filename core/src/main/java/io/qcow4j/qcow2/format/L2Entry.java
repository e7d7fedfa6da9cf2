package io.qcow4j.qcow2.format;

/**
 * Decoding of L2 table entries. A standard entry holds the host cluster offset (bits 9-55), the
 * zero flag (bit 0, v3 without extended L2), the compressed flag (bit 62) and COPIED (bit 63). A
 * compressed entry holds a descriptor instead (see {@link CompressedDescriptor}). With extended L2,
 * a second word holds 32 allocation bits (low half) and 32 zero bits (high half), one per subcluster.
 */
public final class L2Entry {
  public static final long COPIED = 1L << 63;
  public static final long COMPRESSED = 1L << 62;
  public static final long ZERO = 1L;
  public static final long OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
  /** Bits of a standard entry that must be zero: 1-8 and 56-61 (bit 0 too with extended L2). */
  public static final long RESERVED_MASK = 0x3f00_0000_0000_01feL;

  public static final int SUBCLUSTERS = 32;
  /** The allocation half of an extended entry's subcluster bitmap. */
  public static final long ALL_ALLOCATED = 0xffff_ffffL;

  private L2Entry() {}

  /** What one guest cluster (or subcluster) reads as, by the entry that maps it. */
  public enum Kind {
    /** Not allocated in this layer: read from the backing file, or zeros. */
    UNALLOCATED,
    /** Reads as zeros; a host cluster may still be reserved for it. */
    ZERO,
    /** Host data at the entry's offset. */
    DATA,
    /** Compressed data described by the entry. */
    COMPRESSED
  }

  public static boolean compressed(long entry) {
    return (entry & COMPRESSED) != 0;
  }

  public static boolean copied(long entry) {
    return (entry & COPIED) != 0;
  }

  /** The host cluster offset of a standard entry, 0 when none. */
  public static long hostOffset(long entry) {
    return entry & OFFSET_MASK;
  }

  /**
   * The kind of a standard (non-extended) entry. {@code hostOffsetZeroValid}: with an external data
   * file, offset 0 with COPIED set is a real host cluster.
   */
  public static Kind kind(long entry, boolean hostOffsetZeroValid) {
    if (compressed(entry)) {
      return Kind.COMPRESSED;
    }
    if ((entry & ZERO) != 0) {
      return Kind.ZERO;
    }
    if (hostOffset(entry) != 0 || (hostOffsetZeroValid && copied(entry))) {
      return Kind.DATA;
    }
    return Kind.UNALLOCATED;
  }

  /** Whether the standard entry names a host cluster (data, or a zero cluster with space kept). */
  public static boolean hasHostCluster(long entry, boolean hostOffsetZeroValid) {
    if (compressed(entry)) {
      return false;
    }
    // QEMU writes ZERO|COPIED with offset 0 when it zeroes guest cluster 0 of an external data file,
    // and reads that as zero without a host cluster (ZERO_PLAIN); so do we, so that map agrees.
    return hostOffset(entry) != 0 || (hostOffsetZeroValid && copied(entry) && (entry & ZERO) == 0);
  }

  /**
   * The kind of subcluster {@code index} of an extended entry with allocation/zero {@code bitmap};
   * null when the bits contradict each other (both set).
   */
  public static Kind subclusterKind(long bitmap, int index) {
    boolean allocated = (bitmap & (1L << index)) != 0;
    boolean zero = (bitmap & (1L << (index + 32))) != 0;
    if (allocated && zero) {
      return null;
    }
    return allocated ? Kind.DATA : zero ? Kind.ZERO : Kind.UNALLOCATED;
  }

  /** A standard entry for data at {@code hostOffset}. */
  public static long data(long hostOffset, boolean copied) {
    return (hostOffset & OFFSET_MASK) | (copied ? COPIED : 0);
  }
}
