package io.qcow4j.qcow2.format;

import io.qcow4j.disk.CorruptImageException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The persistent dirty bitmaps codecs (docs/interop/qcow2.rst, "Bitmaps extension"): the header
 * extension, the bitmap directory with its entries, and bitmap table entries. Pure; every field is
 * checked on decode against the limits QEMU 7.2 applies (block/qcow2-bitmap.c).
 */
public final class BitmapDirectoryCodec {
  /** The bitmap was not saved after its last change: its data is not to be trusted. */
  public static final int FLAG_IN_USE = 1;
  /** The bitmap tracks writes (QEMU's "enabled"). */
  public static final int FLAG_AUTO = 2;
  /** Unknown extra data does not forbid using the bitmap. */
  public static final int FLAG_EXTRA_DATA_COMPATIBLE = 4;
  /** Flags a directory entry may carry; the others are reserved. */
  public static final int KNOWN_FLAGS = FLAG_IN_USE | FLAG_AUTO | FLAG_EXTRA_DATA_COMPATIBLE;
  /** The only bitmap type: dirty tracking. */
  public static final int TYPE_DIRTY_TRACKING = 1;
  /** QEMU's QCOW2_MAX_BITMAPS. */
  public static final int MAX_BITMAPS = 65535;
  /** QEMU's QCOW2_MAX_BITMAP_DIRECTORY_SIZE: 1 KiB per bitmap. */
  public static final long MAX_DIRECTORY_BYTES = 1024L * MAX_BITMAPS;
  /** QEMU's BME_MAX_NAME_SIZE. */
  public static final int MAX_NAME_BYTES = 1023;
  public static final int MIN_GRANULARITY_BITS = 9;
  public static final int MAX_GRANULARITY_BITS = 31;
  /** QEMU's limit on the bitmap data one table may describe, table entries times cluster size (BME_MAX_PHYS_SIZE). */
  public static final long MAX_BITMAP_DATA_BYTES = 512L << 20;
  /**
   * The most entries a bitmap table QEMU accepts can have at any cluster size (clusters are at
   * least 512 bytes): 2^20, an 8 MiB table. QEMU's own BME_MAX_TABLE_SIZE (2^27) is looser, but
   * its data limit refuses every table above this one; a reader that walks a table walks at most this.
   */
  public static final long MAX_TABLE_ENTRIES = MAX_BITMAP_DATA_BYTES / 512;
  /** Bitmap table entry: the data cluster's offset. */
  public static final long TABLE_OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
  /** Bitmap table entry: with no data cluster, every bit of the cluster's range is set. */
  public static final long TABLE_ALL_ONES = 1L;
  /** Bitmap table entry bits that must be zero. */
  public static final long TABLE_RESERVED_MASK = 0xff00_0000_0000_01feL;
  private static final int FIXED_BYTES = 24;
  private static final int EXTENSION_BYTES = 24;

  private BitmapDirectoryCodec() {}

  /** The bitmaps extension: how many bitmaps, and where their directory lies. */
  public record Extension(int count, long directorySize, long directoryOffset) {
    /** Decodes the extension's 24 bytes (without checking them against the image: see {@link #check}). */
    public static Extension decode(String file, byte[] data) throws CorruptImageException {
      if (data.length < EXTENSION_BYTES) {
        throw new CorruptImageException(file + ": bitmaps header extension is " + data.length + " bytes, not 24");
      }
      ByteBuffer in = ByteBuffer.wrap(data);
      return new Extension(in.getInt(0), in.getLong(8), in.getLong(16));
    }

    /**
     * Refuses what QEMU refuses at open (a length other than 24, a non-zero reserved field, more
     * than 65535 or no bitmaps, an unaligned directory, a directory over 64 MiB) and a directory
     * outside the file; returns the extension.
     */
    public static Extension decodeChecked(String file, byte[] data, int clusterSize, long fileSize)
        throws CorruptImageException {
      if (data.length != EXTENSION_BYTES) {
        throw new CorruptImageException(file + ": bitmaps_ext: Invalid extension length (" + data.length
            + " bytes, not 24)");
      }
      if (ByteBuffer.wrap(data).getInt(4) != 0) {
        throw new CorruptImageException(file + ": bitmaps_ext: Reserved field is not zero");
      }
      Extension extension = decode(file, data);
      extension.check(file, clusterSize, fileSize);
      return extension;
    }

    /** Checks the fields against the limits and the file (see {@link #decodeChecked}). */
    public void check(String file, int clusterSize, long fileSize) throws CorruptImageException {
      long bitmaps = Integer.toUnsignedLong(count);
      if (bitmaps > MAX_BITMAPS) {
        throw new CorruptImageException(file + ": bitmaps_ext: Image has " + bitmaps
            + " bitmaps, exceeding the QEMU supported maximum of " + MAX_BITMAPS);
      }
      if (bitmaps == 0) {
        throw new CorruptImageException(file + ": found bitmaps extension with zero bitmaps");
      }
      if ((directoryOffset & (clusterSize - 1)) != 0 || directoryOffset <= 0) {
        throw new CorruptImageException(file + ": bitmaps_ext: invalid bitmap directory offset " + directoryOffset);
      }
      if (directorySize < 0 || directorySize > MAX_DIRECTORY_BYTES) {
        throw new CorruptImageException(file + ": bitmaps_ext: bitmap directory size (" + Long.toUnsignedString(directorySize)
            + ") exceeds the maximum supported size (" + MAX_DIRECTORY_BYTES + ")");
      }
      if (directorySize == 0) {
        throw new CorruptImageException(file + ": Requested bitmap directory size is zero");
      }
      if (directoryOffset > fileSize - directorySize) {
        throw new CorruptImageException(file + ": bitmap directory at offset " + directoryOffset + " ("
            + directorySize + " bytes) runs past the end of the file (" + fileSize + " bytes)");
      }
    }

    /** The extension's 24 bytes. */
    public byte[] encode() {
      return ByteBuffer.allocate(EXTENSION_BYTES).putInt(count).putInt(0).putLong(directorySize)
          .putLong(directoryOffset).array();
    }
  }

  /**
   * One directory entry: the bitmap's name, granularity (log2 of bytes per bit), flags, its bitmap
   * table, and extra data kept as it was read.
   */
  public record Entry(String name, int granularityBits, int flags, long tableOffset, int tableSize, byte[] extraData) {
    public Entry {
      extraData = extraData.clone();
    }

    /** An entry without extra data. */
    public Entry(String name, int granularityBits, int flags, long tableOffset, int tableSize) {
      this(name, granularityBits, flags, tableOffset, tableSize, new byte[0]);
    }

    @Override
    public byte[] extraData() {
      return extraData.clone();
    }

    /** The granularity in bytes. */
    public long granularity() {
      return 1L << granularityBits;
    }

    public boolean inUse() {
      return (flags & FLAG_IN_USE) != 0;
    }

    public boolean auto() {
      return (flags & FLAG_AUTO) != 0;
    }

    /** Whether software that does not know the extra data may use the bitmap (none, or marked compatible). */
    public boolean usable() {
      return extraData.length == 0 || (flags & FLAG_EXTRA_DATA_COMPATIBLE) != 0;
    }

    /** This entry with other flags. */
    public Entry withFlags(int newFlags) {
      return new Entry(name, granularityBits, newFlags, tableOffset, tableSize, extraData);
    }

    /** This entry with another bitmap table. */
    public Entry withTable(long offset, int size) {
      return new Entry(name, granularityBits, flags, offset, size, extraData);
    }

    /** The bytes this entry takes in the directory, padded to 8. */
    public int encodedLength() {
      return entryLength(name.getBytes(StandardCharsets.UTF_8).length, extraData.length);
    }

    @Override
    public boolean equals(Object other) {
      return other instanceof Entry that && name.equals(that.name) && granularityBits == that.granularityBits
          && flags == that.flags && tableOffset == that.tableOffset && tableSize == that.tableSize
          && Arrays.equals(extraData, that.extraData);
    }

    @Override
    public int hashCode() {
      return name.hashCode() * 31 + Long.hashCode(tableOffset) + Arrays.hashCode(extraData);
    }

    @Override
    public String toString() {
      return "Entry[name=" + name + ", granularityBits=" + granularityBits + ", flags=" + flags + ", tableOffset="
          + tableOffset + ", tableSize=" + Integer.toUnsignedString(tableSize) + ", extraData=" + extraData.length + "]";
    }
  }

  /** The bytes of a directory entry with a name of {@code nameBytes} and {@code extraBytes} of extra data. */
  public static int entryLength(int nameBytes, int extraBytes) {
    return (FIXED_BYTES + nameBytes + extraBytes + 7) & ~7;
  }

  /**
   * Decodes {@code count} entries from the directory bytes (from the buffer's position), refusing
   * entries that run past the directory, a table of no entries or more than
   * {@link #MAX_TABLE_ENTRIES} or not at a 512-byte boundary, a granularity outside 2^9..2^31,
   * reserved flags, another type, or a name over 1023 bytes.
   */
  public static List<Entry> decode(String file, ByteBuffer directory, long directoryOffset, int count)
      throws IOException {
    ByteBuffer in = directory.slice().order(ByteOrder.BIG_ENDIAN);
    List<Entry> entries = new ArrayList<>();
    for (int index = 0; index < count; index++) {
      int at = in.position();
      String where = file + ": bitmap directory entry " + index + " at offset " + (directoryOffset + at);
      if (in.remaining() < FIXED_BYTES) {
        throw new CorruptImageException(where + " runs past the end of the directory");
      }
      long tableOffset = in.getLong(at);
      int tableSize = in.getInt(at + 8);
      int flags = in.getInt(at + 12);
      int type = in.get(at + 16) & 0xff;
      int granularityBits = in.get(at + 17) & 0xff;
      int nameSize = in.getShort(at + 18) & 0xffff;
      long extraSize = Integer.toUnsignedLong(in.getInt(at + 20));
      long length = (FIXED_BYTES + extraSize + nameSize + 7) & ~7L;
      if (length > in.remaining()) {
        throw new CorruptImageException(where + " runs past the end of the directory");
      }
      long tableEntries = Integer.toUnsignedLong(tableSize);
      if (tableEntries == 0 || tableEntries > MAX_TABLE_ENTRIES) {
        throw new CorruptImageException(where + " has a bitmap table of " + tableEntries + " entries (1 to "
            + MAX_TABLE_ENTRIES + ")");
      }
      if (tableOffset <= 0 || (tableOffset & 511) != 0) {
        throw new CorruptImageException(where + " has its bitmap table at offset " + tableOffset
            + ", which is not a cluster offset");
      }
      if (type != TYPE_DIRTY_TRACKING) {
        throw new CorruptImageException(where + " has type " + type + ", not 1 (dirty tracking bitmap)");
      }
      if (granularityBits < MIN_GRANULARITY_BITS || granularityBits > MAX_GRANULARITY_BITS) {
        throw new CorruptImageException(where + " has granularity bits " + granularityBits + " (" + MIN_GRANULARITY_BITS
            + " to " + MAX_GRANULARITY_BITS + ")");
      }
      if ((flags & ~KNOWN_FLAGS) != 0) {
        throw new CorruptImageException(where + String.format(" has reserved flags 0x%x set", flags & ~KNOWN_FLAGS));
      }
      if (nameSize > MAX_NAME_BYTES) {
        throw new CorruptImageException(where + " has a name of " + nameSize + " bytes (at most " + MAX_NAME_BYTES + ")");
      }
      byte[] extra = new byte[(int) extraSize];
      in.get(at + FIXED_BYTES, extra);
      byte[] name = new byte[nameSize];
      in.get(at + FIXED_BYTES + (int) extraSize, name);
      entries.add(new Entry(new String(name, StandardCharsets.UTF_8), granularityBits, flags, tableOffset, tableSize,
          extra));
      in.position(at + (int) length);
    }
    return entries;
  }

  /**
   * Decodes a whole directory as QEMU's bitmap_list_load reads it: exactly {@code count} entries
   * that end exactly at the end of {@code directory}, with unique names.
   */
  public static List<Entry> decodeDirectory(String file, ByteBuffer directory, long directoryOffset, int count)
      throws IOException {
    int size = directory.remaining();
    List<Entry> entries = decode(file, directory, directoryOffset, count);
    long used = 0;
    for (Entry entry : entries) {
      used += entryLength(entry.name().getBytes(StandardCharsets.UTF_8).length, entry.extraData.length);
    }
    if (used != size) {
      throw new CorruptImageException(file + ": bitmap directory at offset " + directoryOffset + " holds " + count
          + " entries in " + used + " bytes, but its size is " + size + " bytes (Broken bitmap directory)");
    }
    java.util.Set<String> names = new java.util.HashSet<>();
    for (Entry entry : entries) {
      if (!names.add(entry.name())) {
        throw new CorruptImageException(file + ": bitmap directory at offset " + directoryOffset
            + " names bitmap '" + entry.name() + "' twice");
      }
    }
    return entries;
  }

  /** Encodes the entries as a directory (each padded to 8 bytes, type 1). */
  public static byte[] encode(List<Entry> entries) {
    int size = 0;
    for (Entry entry : entries) {
      size += entry.encodedLength();
    }
    ByteBuffer out = ByteBuffer.allocate(size);
    for (Entry entry : entries) {
      int at = out.position();
      byte[] name = entry.name().getBytes(StandardCharsets.UTF_8);
      out.putLong(entry.tableOffset()).putInt(entry.tableSize()).putInt(entry.flags())
          .put((byte) TYPE_DIRTY_TRACKING).put((byte) entry.granularityBits()).putShort((short) name.length)
          .putInt(entry.extraData.length).put(entry.extraData).put(name);
      out.position(at + entry.encodedLength());
    }
    return out.array();
  }

  /**
   * Refuses a bitmap table that QEMU refuses or that does not lie in the file: an offset not
   * aligned to the cluster, more than {@link #MAX_BITMAP_DATA_BYTES} of bitmap data, or a table
   * running past {@code fileSize}. What a table may make a reader walk is bounded by the file.
   */
  public static void checkTable(String file, Entry entry, int clusterSize, long fileSize) throws CorruptImageException {
    long tableEntries = Integer.toUnsignedLong(entry.tableSize());
    String what = file + ": the table of bitmap '" + entry.name() + "' at offset " + entry.tableOffset();
    if ((entry.tableOffset() & (clusterSize - 1)) != 0) {
      throw new CorruptImageException(what + " is not aligned to a cluster (" + clusterSize + " bytes)");
    }
    if (tableEntries * clusterSize > MAX_BITMAP_DATA_BYTES) {
      throw new CorruptImageException(what + " has " + tableEntries + " entries, more than "
          + MAX_BITMAP_DATA_BYTES + " bytes of bitmap data at " + clusterSize + "-byte clusters");
    }
    if (entry.tableOffset() > fileSize - tableEntries * 8) {
      throw new CorruptImageException(what + " (" + tableEntries * 8 + " bytes) runs past the end of the file ("
          + fileSize + " bytes)");
    }
  }

  /**
   * Refuses a consistent bitmap whose table is too small for a disk of {@code diskSize} bytes at its
   * granularity (QEMU's check_dir_entry); an in-use bitmap may be stale in size.
   */
  public static void checkCoversDisk(String file, Entry entry, int clusterSize, long diskSize)
      throws CorruptImageException {
    if (!entry.inUse() && tableEntries(diskSize, entry.granularityBits(), clusterSize)
        > Integer.toUnsignedLong(entry.tableSize())) {
      throw new CorruptImageException(file + ": Bitmap '" + entry.name() + "' doesn't satisfy the constraints: its table of "
          + Integer.toUnsignedLong(entry.tableSize()) + " entries does not cover the disk (" + diskSize + " bytes)");
    }
  }

  /** The data cluster a table entry points at, 0 for none; refuses reserved bits and unaligned offsets. */
  public static long dataOffset(String file, String bitmapName, int index, long tableEntry, int clusterSize)
      throws CorruptImageException {
    long offset = tableEntry & TABLE_OFFSET_MASK;
    boolean bad = (tableEntry & TABLE_RESERVED_MASK) != 0
        || offset != 0 && ((tableEntry & TABLE_ALL_ONES) != 0 || (offset & (clusterSize - 1)) != 0);
    if (bad) {
      throw new CorruptImageException(String.format(
          "%s: Could not read bitmap_table table from image for bitmap '%s': entry %d is invalid: 0x%x", file,
          bitmapName, index, tableEntry));
    }
    return offset;
  }

  /** Whether a table entry is valid (see {@link #dataOffset}). */
  public static boolean validTableEntry(long tableEntry, int clusterSize) {
    long offset = tableEntry & TABLE_OFFSET_MASK;
    return (tableEntry & TABLE_RESERVED_MASK) == 0
        && (offset == 0 || (tableEntry & TABLE_ALL_ONES) == 0 && (offset & (clusterSize - 1)) == 0);
  }

  /** The bits of a bitmap over {@code diskSize} bytes at {@code granularityBits}. */
  public static long bitCount(long diskSize, int granularityBits) {
    return (diskSize + (1L << granularityBits) - 1) >>> granularityBits;
  }

  /** The entries of the bitmap table of a bitmap over {@code diskSize} bytes: one per cluster of bitmap data. */
  public static long tableEntries(long diskSize, int granularityBits, int clusterSize) {
    long bytes = (bitCount(diskSize, granularityBits) + 7) / 8;
    return (bytes + clusterSize - 1) / clusterSize;
  }
}
