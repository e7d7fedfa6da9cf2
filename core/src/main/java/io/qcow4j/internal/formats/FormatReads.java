package io.qcow4j.internal.formats;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;

/** Reads of a read-only format's header and tables, bounded and checked against the file's end. */
public final class FormatReads {
  /** The largest table (block map, L1 table, BAT) a header may make us read and keep: 32 MiB, as for qcow2's L1. */
  public static final long MAX_TABLE_BYTES = 32L << 20;

  private FormatReads() {}

  /**
   * The {@code length} bytes at {@code offset}, which must lie inside the file; else
   * {@link CorruptImageException} naming the file, {@code what} and the offset.
   */
  public static byte[] readInside(Storage storage, long offset, int length, String what) throws IOException {
    long fileSize = storage.size();
    if (offset < 0 || offset > fileSize || length > fileSize - offset) {
      throw new CorruptImageException(storage.name() + ": " + what + " at offset " + offset + " (" + length
          + " bytes) lies past the end of the file (" + fileSize + " bytes)");
    }
    byte[] bytes = new byte[length];
    storage.readFully(ByteBuffer.wrap(bytes), offset);
    return bytes;
  }

  /** The {@code length} bytes at {@code offset}, zeros where they lie past the end of the file (as QEMU reads). */
  public static byte[] readOrZero(Storage storage, long offset, int length) throws IOException {
    byte[] bytes = new byte[length];
    storage.readOrZero(ByteBuffer.wrap(bytes), offset);
    return bytes;
  }

  /** Refuses a table of {@code bytes} over {@link #MAX_TABLE_BYTES}, naming the file and {@code what}. */
  public static int tableBytes(Storage storage, long bytes, String what) throws ImageLimitException {
    return tableBytes(storage.name(), bytes, what);
  }

  /** Refuses a table of {@code bytes} over {@link #MAX_TABLE_BYTES}, naming the image {@code name} and {@code what}. */
  public static int tableBytes(String name, long bytes, String what) throws ImageLimitException {
    if (bytes < 0 || bytes > MAX_TABLE_BYTES) {
      throw new ImageLimitException(name + ": " + what + " of " + bytes + " bytes is larger than the limit of "
          + MAX_TABLE_BYTES + " bytes");
    }
    return (int) bytes;
  }
}
