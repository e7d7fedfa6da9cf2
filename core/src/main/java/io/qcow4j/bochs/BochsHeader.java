package io.qcow4j.bochs;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The 512-byte header of a Bochs "growing" redolog image (little-endian) as QEMU 7.2's
 * block/bochs.c reads it; pure decoding, no I/O. The disk size sits at offset 84 in version 1
 * headers and at offset 88 (after a reserved word) in version 2 ones.
 */
public record BochsHeader(
    String magic,
    String type,
    String subtype,
    long version,
    long headerSize,
    long catalogEntries,
    long bitmapSize,
    long extentSize,
    long diskSize) {

  /** The header's size. */
  public static final int SIZE = 512;
  /** The magic string at offset 0. */
  public static final String MAGIC = "Bochs Virtual HD Image";
  /** The only image type QEMU reads. */
  public static final String REDOLOG = "Redolog";
  /** The only subtype QEMU reads. */
  public static final String GROWING = "Growing";
  /** Header version 2. */
  public static final long VERSION_2 = 0x00020000L;
  /** Header version 1, whose disk size has no reserved word before it. */
  public static final long VERSION_1 = 0x00010000L;

  /** Decodes a header of at least {@link #SIZE} bytes; the caller checks its fields. */
  public static BochsHeader decode(byte[] bytes) {
    if (bytes.length < SIZE) {
      throw new IllegalArgumentException("a Bochs header is " + SIZE + " bytes, not " + bytes.length);
    }
    ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    long version = u32(buffer, 64);
    long diskSize = buffer.getLong(version == VERSION_1 ? 84 : 88);
    return new BochsHeader(cString(bytes, 0, 32), cString(bytes, 32, 16), cString(bytes, 48, 16), version,
        u32(buffer, 68), u32(buffer, 72), u32(buffer, 76), u32(buffer, 80), diskSize);
  }

  /**
   * Whether this is a growing redolog of version 1 or 2 (bochs_probe and bochs_open); QEMU
   * compares the fields as C strings, so a field without its terminating NUL never matches.
   */
  public boolean isGrowingRedolog() {
    return MAGIC.equals(magic) && REDOLOG.equals(type) && GROWING.equals(subtype)
        && (version == VERSION_2 || version == VERSION_1);
  }

  /** The field up to its first NUL; a field with none yields its bytes and one more, so that it never matches. */
  private static String cString(byte[] bytes, int offset, int length) {
    for (int i = offset; i < offset + length; i++) {
      if (bytes[i] == 0) {
        return new String(bytes, offset, i - offset, StandardCharsets.ISO_8859_1);
      }
    }
    return new String(bytes, offset, length, StandardCharsets.ISO_8859_1) + "\uFFFD";
  }

  private static long u32(ByteBuffer buffer, int offset) {
    return Integer.toUnsignedLong(buffer.getInt(offset));
  }
}
