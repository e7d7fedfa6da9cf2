package io.qcow4j.vhdx;

import io.qcow4j.disk.CorruptImageException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;

/**
 * The parent locator metadata item of a differencing VHDX (MS-VHDX section 2.6.2.6): a locator
 * type GUID and key/value pairs of UTF-16LE strings (parent_linkage, parent_linkage2,
 * relative_path, volume_path, absolute_win32_path); pure decoding and encoding.
 */
public record ParentLocator(UUID locatorType, Map<String, String> entries) {
  /** The locator type of a VHDX parent (section 2.6.2.6.1). */
  public static final UUID VHDX_PARENT = UUID.fromString("b04aefb7-d19e-4a81-b789-25b8e9445913");

  private static final int HEADER_SIZE = 20;
  private static final int ENTRY_SIZE = 12;

  /**
   * Decodes the item's bytes (read at {@code offset} of the file {@code name}); an entry whose key
   * or value lies outside the item, is empty, or a key given twice, is {@link CorruptImageException}.
   */
  public static ParentLocator decode(byte[] item, String name, long offset) throws CorruptImageException {
    if (item.length < HEADER_SIZE) {
      throw new CorruptImageException(name + ": parent locator at offset " + offset + " is " + item.length
          + " bytes, shorter than its header");
    }
    ByteBuffer buffer = ByteBuffer.wrap(item).order(ByteOrder.LITTLE_ENDIAN);
    UUID type = VhdxGuid.read(item, 0);
    int count = Short.toUnsignedInt(buffer.getShort(18));
    if ((long) HEADER_SIZE + (long) count * ENTRY_SIZE > item.length) {
      throw new CorruptImageException(name + ": parent locator at offset " + offset + ": key_value_count " + count
          + " does not fit in its " + item.length + " bytes");
    }
    Map<String, String> entries = new LinkedHashMap<>();
    for (int i = 0; i < count; i++) {
      int at = HEADER_SIZE + i * ENTRY_SIZE;
      String key = string(item, buffer.getInt(at), buffer.getShort(at + 8), name, offset, i, "key");
      String value = string(item, buffer.getInt(at + 4), buffer.getShort(at + 10), name, offset, i, "value");
      if (entries.put(key, value) != null) {
        throw new CorruptImageException(name + ": parent locator at offset " + offset + " gives the key '" + key
            + "' twice");
      }
    }
    return new ParentLocator(type, Collections.unmodifiableMap(entries));
  }

  private static String string(byte[] item, int rawOffset, short rawLength, String name, long offset, int index,
      String field) throws CorruptImageException {
    long start = Integer.toUnsignedLong(rawOffset);
    int length = Short.toUnsignedInt(rawLength);
    if (length == 0 || length % 2 != 0 || start < HEADER_SIZE || start > item.length - length) {
      throw new CorruptImageException(name + ": parent locator at offset " + offset + ", entry " + index + ": "
          + field + " of " + length + " bytes at " + start + " lies outside the item (" + item.length + " bytes)");
    }
    return new String(item, (int) start, length, StandardCharsets.UTF_16LE);
  }

  /** The item's bytes: header, entries, then each key and value. */
  public byte[] encode() {
    int size = HEADER_SIZE + entries.size() * ENTRY_SIZE;
    for (Map.Entry<String, String> entry : entries.entrySet()) {
      size += 2 * (entry.getKey().length() + entry.getValue().length());
    }
    byte[] item = new byte[size];
    ByteBuffer buffer = ByteBuffer.wrap(item).order(ByteOrder.LITTLE_ENDIAN);
    VhdxGuid.write(item, 0, locatorType);
    buffer.putShort(18, (short) entries.size());
    int at = HEADER_SIZE;
    int data = HEADER_SIZE + entries.size() * ENTRY_SIZE;
    for (Map.Entry<String, String> entry : entries.entrySet()) {
      byte[] key = entry.getKey().getBytes(StandardCharsets.UTF_16LE);
      byte[] value = entry.getValue().getBytes(StandardCharsets.UTF_16LE);
      buffer.putInt(at, data);
      buffer.put(data, key);
      data += key.length;
      buffer.putInt(at + 4, data);
      buffer.put(data, value);
      data += value.length;
      buffer.putShort(at + 8, (short) key.length);
      buffer.putShort(at + 10, (short) value.length);
      at += ENTRY_SIZE;
    }
    return item;
  }
}
