package io.qcow4j.vhdx;

import io.qcow4j.disk.CorruptImageException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * The VHDX metadata table (MS-VHDX section 2.6.1): the first 64 KiB of the metadata region, a
 * header and up to 2047 entries naming each metadata item by GUID with its place in the region;
 * pure decoding and encoding.
 */
public record MetadataTable(List<Entry> entries) {
  /** The size of the table, at the start of the metadata region. */
  public static final int SIZE = 64 << 10;
  /** The most entries a table may have. */
  public static final int MAX_ENTRIES = 2047;
  /** The largest item the specification allows (1 MiB). */
  public static final long MAX_ITEM = 1 << 20;
  /** File Parameters (section 2.6.2.1). */
  public static final UUID FILE_PARAMETERS = UUID.fromString("caa16737-fa36-4d43-b3b6-33f0aa44e76b");
  /** Virtual Disk Size (section 2.6.2.2). */
  public static final UUID VIRTUAL_DISK_SIZE = UUID.fromString("2fa54224-cd1b-4876-b211-5dbed83bf4b8");
  /** Page 83 Data (section 2.6.2.3). */
  public static final UUID PAGE_83 = UUID.fromString("beca12ab-b2e6-4523-93ef-c309e000c746");
  /** Logical Sector Size (section 2.6.2.4). */
  public static final UUID LOGICAL_SECTOR_SIZE = UUID.fromString("8141bf1d-a96f-4709-ba47-f233a8faab5f");
  /** Physical Sector Size (section 2.6.2.5). */
  public static final UUID PHYSICAL_SECTOR_SIZE = UUID.fromString("cda348c7-445d-4471-9cc9-e9885251c556");
  /** Parent Locator (section 2.6.2.6). */
  public static final UUID PARENT_LOCATOR = UUID.fromString("a8d35f2d-b30b-454d-abf7-d3d84834ab0c");

  private static final byte[] SIGNATURE = "metadata".getBytes(StandardCharsets.US_ASCII);
  private static final int HEADER_SIZE = 32;
  private static final int ENTRY_SIZE = 32;

  /** One metadata item: its GUID, its offset and length inside the region, and its flags. */
  public record Entry(UUID itemId, long offset, long length, boolean user, boolean virtualDisk, boolean required) {}

  /**
   * Decodes the {@link #SIZE} bytes read at {@code offset} of the file {@code name}; a bad signature
   * or entry count is {@link CorruptImageException} naming the field.
   */
  public static MetadataTable decode(byte[] bytes, String name, long offset) throws CorruptImageException {
    for (int i = 0; i < SIGNATURE.length; i++) {
      if (bytes[i] != SIGNATURE[i]) {
        throw new CorruptImageException(name + ": metadata table at offset " + offset
            + " has no 'metadata' signature");
      }
    }
    ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    int count = Short.toUnsignedInt(buffer.getShort(10));
    if (count > MAX_ENTRIES) {
      throw new CorruptImageException(name + ": metadata table at offset " + offset + ": entry count " + count
          + " is over the limit of " + MAX_ENTRIES);
    }
    List<Entry> entries = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      int at = HEADER_SIZE + i * ENTRY_SIZE;
      int flags = buffer.getInt(at + 24);
      entries.add(new Entry(VhdxGuid.read(bytes, at), Integer.toUnsignedLong(buffer.getInt(at + 16)),
          Integer.toUnsignedLong(buffer.getInt(at + 20)), (flags & 1) != 0, (flags & 2) != 0, (flags & 4) != 0));
    }
    return new MetadataTable(List.copyOf(entries));
  }

  /** The {@link #SIZE} bytes of this table. */
  public byte[] encode() {
    byte[] bytes = new byte[SIZE];
    ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    buffer.put(0, SIGNATURE);
    buffer.putShort(10, (short) entries.size());
    for (int i = 0; i < entries.size(); i++) {
      Entry entry = entries.get(i);
      int at = HEADER_SIZE + i * ENTRY_SIZE;
      VhdxGuid.write(bytes, at, entry.itemId());
      buffer.putInt(at + 16, (int) entry.offset());
      buffer.putInt(at + 20, (int) entry.length());
      buffer.putInt(at + 24, (entry.user() ? 1 : 0) | (entry.virtualDisk() ? 2 : 0) | (entry.required() ? 4 : 0));
    }
    return bytes;
  }
}
