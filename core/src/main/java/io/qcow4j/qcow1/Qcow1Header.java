package io.qcow4j.qcow1;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The 48-byte header of a qcow (version 1) image, big-endian, as QEMU's block/qcow.c reads it;
 * pure decoding, no I/O.
 */
public record Qcow1Header(
    long magic,
    long version,
    long backingFileOffset,
    long backingFileSize,
    long mtime,
    long size,
    int clusterBits,
    int l2Bits,
    long cryptMethod,
    long l1TableOffset) {

  /** The header's size. */
  public static final int SIZE = 48;
  /** "QFI\xfb". */
  public static final long MAGIC = 0x514649fbL;
  /** Bit 63 of an L2 entry: a compressed cluster. */
  public static final long COMPRESSED = 1L << 63;

  /** Decodes the header fields. */
  public static Qcow1Header decode(byte[] bytes) {
    ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.BIG_ENDIAN);
    return new Qcow1Header(
        Integer.toUnsignedLong(buffer.getInt(0)), Integer.toUnsignedLong(buffer.getInt(4)), buffer.getLong(8),
        Integer.toUnsignedLong(buffer.getInt(16)), Integer.toUnsignedLong(buffer.getInt(20)), buffer.getLong(24),
        Byte.toUnsignedInt(buffer.get(32)), Byte.toUnsignedInt(buffer.get(33)),
        Integer.toUnsignedLong(buffer.getInt(36)), buffer.getLong(40));
  }

  /** The cluster size in bytes. */
  public long clusterSize() {
    return 1L << clusterBits;
  }

  /** The guest bytes one L2 table maps. */
  public long l2Span() {
    return 1L << (clusterBits + l2Bits);
  }

  /** A compressed L2 entry's compressed length (QEMU: the bits above the offset, within a cluster). */
  public long compressedLength(long entry) {
    return (entry >>> (63 - clusterBits)) & (clusterSize() - 1);
  }

  /** A compressed L2 entry's host offset. */
  public long compressedOffset(long entry) {
    return entry & ((1L << (63 - clusterBits)) - 1);
  }
}
