package io.qcow4j.qcow2.format;

import io.qcow4j.disk.CorruptImageException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Decodes the bitmaps extension and the bitmap directory it points at (names, granularity, flags). */
public final class BitmapDirectoryCodec {
  public static final int FLAG_IN_USE = 1;
  public static final int FLAG_AUTO = 2;
  public static final long MAX_DIRECTORY_BYTES = 64L << 20;
  /** QEMU's limit on the bitmap data one table may describe, table entries times cluster size (BME_MAX_PHYS_SIZE). */
  public static final long MAX_BITMAP_DATA_BYTES = 512L << 20;
  /**
   * The most entries a bitmap table QEMU accepts can have at any cluster size (clusters are at
   * least 512 bytes): 2^20, an 8 MiB table. QEMU's own BME_MAX_TABLE_SIZE (2^27) is looser, but
   * its data limit refuses every table above this one; a reader that walks a table walks at most this.
   */
  public static final long MAX_TABLE_ENTRIES = MAX_BITMAP_DATA_BYTES / 512;
  private static final int FIXED_BYTES = 24;

  private BitmapDirectoryCodec() {}

  /** The bitmaps extension: how many bitmaps, and where their directory lies. */
  public record Extension(int count, long directorySize, long directoryOffset) {
    public static Extension decode(String file, byte[] data) throws CorruptImageException {
      if (data.length < 24) {
        throw new CorruptImageException(file + ": bitmaps header extension is " + data.length + " bytes, not 24");
      }
      ByteBuffer in = ByteBuffer.wrap(data);
      return new Extension(in.getInt(0), in.getLong(8), in.getLong(16));
    }
  }

  /** One directory entry: the bitmap's name, granularity in bytes and flags. */
  public record Entry(String name, int granularityBits, int flags, long tableOffset, int tableSize) {}

  /** Decodes {@code count} entries from the directory bytes. */
  public static List<Entry> decode(String file, ByteBuffer directory, long directoryOffset, int count)
      throws IOException {
    ByteBuffer in = directory.slice().order(java.nio.ByteOrder.BIG_ENDIAN);
    List<Entry> entries = new ArrayList<>();
    for (int index = 0; index < count; index++) {
      int at = in.position();
      if (in.remaining() < FIXED_BYTES) {
        throw new CorruptImageException(file + ": bitmap directory entry " + index + " at offset "
            + (directoryOffset + at) + " runs past the end of the directory");
      }
      long tableOffset = in.getLong(at);
      int tableSize = in.getInt(at + 8);
      int flags = in.getInt(at + 12);
      int granularityBits = in.get(at + 17) & 0xff;
      int nameSize = in.getShort(at + 18) & 0xffff;
      long extraSize = Integer.toUnsignedLong(in.getInt(at + 20));
      long length = (FIXED_BYTES + extraSize + nameSize + 7) & ~7L;
      if (length > in.remaining() || FIXED_BYTES + extraSize + nameSize > in.remaining()) {
        throw new CorruptImageException(file + ": bitmap directory entry " + index + " at offset "
            + (directoryOffset + at) + " runs past the end of the directory");
      }
      long tableEntries = Integer.toUnsignedLong(tableSize);
      if (tableEntries == 0 || tableEntries > MAX_TABLE_ENTRIES) {
        throw new CorruptImageException(file + ": bitmap directory entry " + index + " at offset " + (directoryOffset + at)
            + " has a bitmap table of " + tableEntries + " entries (1 to " + MAX_TABLE_ENTRIES + ")");
      }
      if (tableOffset <= 0 || (tableOffset & 511) != 0) {
        throw new CorruptImageException(file + ": bitmap directory entry " + index + " at offset " + (directoryOffset + at)
            + " has its bitmap table at offset " + tableOffset + ", which is not a cluster offset");
      }
      byte[] name = new byte[nameSize];
      in.get(at + FIXED_BYTES + (int) extraSize, name);
      entries.add(new Entry(new String(name, StandardCharsets.UTF_8), granularityBits, flags, tableOffset, tableSize));
      in.position(at + (int) length);
    }
    return entries;
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
}
