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
      byte[] name = new byte[nameSize];
      in.get(at + FIXED_BYTES + (int) extraSize, name);
      entries.add(new Entry(new String(name, StandardCharsets.UTF_8), granularityBits, flags, tableOffset, tableSize));
      in.position(at + (int) length);
    }
    return entries;
  }
}
