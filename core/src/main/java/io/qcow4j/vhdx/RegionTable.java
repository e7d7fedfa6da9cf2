package io.qcow4j.vhdx;

import io.qcow4j.disk.CorruptImageException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * A VHDX region table (MS-VHDX section 2.2.3): a 64 KiB block at 192 KiB (and its copy at 256
 * KiB) listing the regions of the file by GUID, checksummed over the whole block; pure decoding
 * and encoding.
 */
public record RegionTable(List<Entry> entries) {
  /** The size of a region table block. */
  public static final int SIZE = 64 << 10;
  /** Offsets of the region table and of its copy. */
  public static final long[] OFFSETS = {192 << 10, 256 << 10};
  /** "regi" in ASCII, read little-endian. */
  public static final int SIGNATURE = 0x69676572;
  /** The most entries a table may have (the specification's limit). */
  public static final int MAX_ENTRIES = 2047;
  /** The BAT region's GUID. */
  public static final UUID BAT = UUID.fromString("2dc27766-f623-4200-9d64-115e9bfd4a08");
  /** The metadata region's GUID. */
  public static final UUID METADATA = UUID.fromString("8b7ca206-4790-4b9a-b8fe-575f050f886e");

  private static final int ENTRY_SIZE = 32;
  private static final int HEADER_SIZE = 16;

  /** One region: where it lies and whether a reader must know it. */
  public record Entry(UUID guid, long fileOffset, long length, boolean required) {}

  /**
   * Decodes the {@link #SIZE} bytes read at {@code offset} of the file {@code name}; a bad
   * checksum, signature or entry count is {@link CorruptImageException} naming the field.
   */
  public static RegionTable decode(byte[] bytes, String name, long offset) throws CorruptImageException {
    ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    if (buffer.getInt(0) != SIGNATURE) {
      throw new CorruptImageException(name + ": region table at offset " + offset + " has no 'regi' signature");
    }
    if (!VhdxChecksum.valid(bytes, 0, SIZE, 4)) {
      throw new CorruptImageException(name + ": region table at offset " + offset + " has a wrong checksum");
    }
    long count = Integer.toUnsignedLong(buffer.getInt(8));
    if (count > MAX_ENTRIES) {
      throw new CorruptImageException(name + ": region table at offset " + offset + ": entry count " + count
          + " is over the limit of " + MAX_ENTRIES);
    }
    List<Entry> entries = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      int at = HEADER_SIZE + i * ENTRY_SIZE;
      entries.add(new Entry(VhdxGuid.read(bytes, at), buffer.getLong(at + 16),
          Integer.toUnsignedLong(buffer.getInt(at + 24)), (buffer.getInt(at + 28) & 1) != 0));
    }
    return new RegionTable(List.copyOf(entries));
  }

  /** The {@link #SIZE} bytes of this table, with its checksum. */
  public byte[] encode() {
    byte[] bytes = new byte[SIZE];
    ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    buffer.putInt(0, SIGNATURE);
    buffer.putInt(8, entries.size());
    for (int i = 0; i < entries.size(); i++) {
      Entry entry = entries.get(i);
      int at = HEADER_SIZE + i * ENTRY_SIZE;
      VhdxGuid.write(bytes, at, entry.guid());
      buffer.putLong(at + 16, entry.fileOffset());
      buffer.putInt(at + 24, (int) entry.length());
      buffer.putInt(at + 28, entry.required() ? 1 : 0);
    }
    VhdxChecksum.fill(bytes, 0, SIZE, 4);
    return bytes;
  }
}
