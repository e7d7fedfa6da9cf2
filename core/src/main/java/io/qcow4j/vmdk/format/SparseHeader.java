package io.qcow4j.vmdk.format;

import io.qcow4j.disk.CorruptImageException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The header of a hosted sparse extent (VMware "Virtual Disk Format 5.0", SparseExtentHeader, magic
 * "KDMV"), as stored in the first sector of the extent or, for a streamOptimized extent whose grain
 * directory is at the end, in the footer. Sizes and offsets are in 512-byte sectors.
 */
public record SparseHeader(
    long version,
    long flags,
    long capacitySectors,
    long grainSectors,
    long descriptorOffsetSectors,
    long descriptorSectors,
    long gtesPerGt,
    long redundantGdOffsetSectors,
    long gdOffsetSectors,
    long overheadSectors,
    boolean uncleanShutdown,
    int compressAlgorithm) {

  /** The size of the header sector in bytes. */
  public static final int SIZE = 512;
  /** "KDMV" read as a little-endian 32-bit number. */
  public static final int MAGIC = 0x564d444b;
  /** Flag bit 0: the newline-detection bytes are valid. */
  public static final long FLAG_NEWLINE_DETECT = 1L;
  /** Flag bit 1: a redundant grain directory exists at {@link #redundantGdOffsetSectors}. */
  public static final long FLAG_REDUNDANT_GD = 1L << 1;
  /** Flag bit 2: a grain table entry of 1 means a grain of zeros (QEMU's zeroed_grain). */
  public static final long FLAG_ZEROED_GRAIN = 1L << 2;
  /** Flag bit 16: grains are compressed. */
  public static final long FLAG_COMPRESSED = 1L << 16;
  /** Flag bit 17: the extent holds markers (streamOptimized). */
  public static final long FLAG_MARKERS = 1L << 17;
  /** The gdOffset of a streamOptimized extent whose grain directory is found through the footer. */
  public static final long GD_AT_END = -1L;
  /** The compressAlgorithm value of deflate (zlib streams). */
  public static final int COMPRESSION_DEFLATE = 1;

  /** Whether the first four bytes of {@code sector} are the sparse extent magic. */
  public static boolean hasMagic(ByteBuffer sector) {
    return sector.remaining() >= 4 && sector.order(ByteOrder.LITTLE_ENDIAN).getInt(sector.position()) == MAGIC;
  }

  /**
   * Decodes the header from the 512 bytes at the position of {@code sector}; {@code where} names
   * the file and the offset for the message when the magic is wrong.
   */
  public static SparseHeader decode(ByteBuffer sector, String where) throws CorruptImageException {
    if (sector.remaining() < SIZE) {
      throw new CorruptImageException(where + ": sparse extent header is truncated (" + sector.remaining()
          + " of " + SIZE + " bytes)");
    }
    ByteBuffer le = sector.slice(sector.position(), SIZE).order(ByteOrder.LITTLE_ENDIAN);
    if (le.getInt(0) != MAGIC) {
      throw new CorruptImageException(where + ": sparse extent header has no KDMV magic (0x"
          + Integer.toHexString(le.getInt(0)) + ")");
    }
    return new SparseHeader(
        Integer.toUnsignedLong(le.getInt(4)),
        Integer.toUnsignedLong(le.getInt(8)),
        le.getLong(12),
        le.getLong(20),
        le.getLong(28),
        le.getLong(36),
        Integer.toUnsignedLong(le.getInt(44)),
        le.getLong(48),
        le.getLong(56),
        le.getLong(64),
        le.get(72) != 0,
        Short.toUnsignedInt(le.getShort(77)));
  }

  /** Whether grains are deflate-compressed (QEMU looks at the algorithm, not the flag). */
  public boolean compressed() {
    return compressAlgorithm == COMPRESSION_DEFLATE;
  }

  /** Whether grains and tables are preceded by markers. */
  public boolean hasMarkers() {
    return (flags & FLAG_MARKERS) != 0;
  }

  /** Whether a grain table entry of 1 stands for a zeroed grain. */
  public boolean zeroedGrains() {
    return (flags & FLAG_ZEROED_GRAIN) != 0;
  }
}
