package io.qcow4j.vpc;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The 1024-byte dynamic disk header of a dynamic or differencing VHD (Microsoft's VHD
 * specification, Dynamic Disk Header Format), big-endian; pure decoding, no I/O.
 */
public record VhdDynamicHeader(
    boolean magicValid,
    long tableOffset,
    long maxTableEntries,
    long blockSize,
    long checksum,
    boolean checksumValid,
    String parentUnicodeName,
    List<ParentLocator> parentLocators) {

  /** The header's size. */
  public static final int SIZE = 1024;
  private static final byte[] COOKIE = "cxsparse".getBytes(StandardCharsets.US_ASCII);
  private static final int CHECKSUM_OFFSET = 36;
  private static final int PARENT_NAME_OFFSET = 64;
  private static final int PARENT_NAME_BYTES = 512;
  private static final int LOCATORS_OFFSET = 576;
  private static final int LOCATOR_COUNT = 8;
  private static final int LOCATOR_BYTES = 24;

  /**
   * One parent locator entry: {@code platformCode} as its four characters ("W2ru" a relative and
   * "W2ku" an absolute Windows path in UTF-16LE), where its data lies and how long it is.
   */
  public record ParentLocator(String platformCode, long dataSpace, long dataLength, long dataOffset) {}

  /** Decodes the header; the magic and checksum are reported, not enforced. */
  public static VhdDynamicHeader decode(byte[] bytes) {
    ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.BIG_ENDIAN);
    boolean magic = true;
    for (int i = 0; i < COOKIE.length; i++) {
      magic &= bytes[i] == COOKIE[i];
    }
    long checksum = Integer.toUnsignedLong(buffer.getInt(CHECKSUM_OFFSET));
    List<ParentLocator> locators = new ArrayList<>();
    for (int i = 0; i < LOCATOR_COUNT; i++) {
      int at = LOCATORS_OFFSET + i * LOCATOR_BYTES;
      int code = buffer.getInt(at);
      if (code == 0) {
        continue;
      }
      byte[] codeBytes = new byte[4];
      buffer.get(at, codeBytes);
      locators.add(new ParentLocator(new String(codeBytes, StandardCharsets.ISO_8859_1),
          Integer.toUnsignedLong(buffer.getInt(at + 4)), Integer.toUnsignedLong(buffer.getInt(at + 8)),
          buffer.getLong(at + 16)));
    }
    return new VhdDynamicHeader(magic, buffer.getLong(16), Integer.toUnsignedLong(buffer.getInt(28)),
        Integer.toUnsignedLong(buffer.getInt(32)), checksum,
        VhdFooter.checksum(bytes, 0, SIZE, CHECKSUM_OFFSET) == checksum, parentName(bytes), List.copyOf(locators));
  }

  /** The parent's name, UTF-16BE up to the first NUL. */
  private static String parentName(byte[] bytes) {
    int end = PARENT_NAME_OFFSET;
    while (end + 1 < PARENT_NAME_OFFSET + PARENT_NAME_BYTES && (bytes[end] != 0 || bytes[end + 1] != 0)) {
      end += 2;
    }
    return new String(bytes, PARENT_NAME_OFFSET, end - PARENT_NAME_OFFSET, StandardCharsets.UTF_16BE);
  }

  /** The size of one block's sector bitmap: a bit per sector, rounded up to a whole sector (QEMU's bitmap_size). */
  public long bitmapBytes() {
    return ((blockSize / (8 * 512)) + 511) & ~511L;
  }
}
