package io.qcow4j.vmdk.format;

import io.qcow4j.disk.CorruptImageException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The header of an ESX Server sparse extent (vmfsSparse, magic "COWD"), as QEMU reads it: sizes and
 * offsets in 512-byte sectors, grain tables of {@link #GTES_PER_GT} entries.
 */
public record CowdHeader(long version, long flags, long capacitySectors, long grainSectors,
    long gdOffsetSectors, long gdEntries, long fileSectors) {

  /** The size of the header this codec reads, magic included. */
  public static final int SIZE = 44;
  /** "COWD" read as a little-endian 32-bit number. */
  public static final int MAGIC = 0x44574f43;
  /** Entries in every grain table of a COWD extent. */
  public static final int GTES_PER_GT = 4096;

  /** Whether the first four bytes of {@code sector} are the COWD magic. */
  public static boolean hasMagic(ByteBuffer sector) {
    return sector.remaining() >= 4 && sector.order(ByteOrder.LITTLE_ENDIAN).getInt(sector.position()) == MAGIC;
  }

  /** Decodes the header at the position of {@code bytes}; {@code where} names the file for messages. */
  public static CowdHeader decode(ByteBuffer bytes, String where) throws CorruptImageException {
    if (bytes.remaining() < SIZE) {
      throw new CorruptImageException(where + ": COWD extent header is truncated (" + bytes.remaining()
          + " of " + SIZE + " bytes)");
    }
    ByteBuffer le = bytes.slice(bytes.position(), SIZE).order(ByteOrder.LITTLE_ENDIAN);
    if (le.getInt(0) != MAGIC) {
      throw new CorruptImageException(where + ": COWD extent header has no COWD magic");
    }
    return new CowdHeader(
        u32(le, 4), u32(le, 8), u32(le, 12), u32(le, 16), u32(le, 20), u32(le, 24), u32(le, 28));
  }

  private static long u32(ByteBuffer le, int offset) {
    return Integer.toUnsignedLong(le.getInt(offset));
  }
}
