package io.qcow4j.vhdx;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * The CRC-32C checksums of VHDX structures (MS-VHDX section 2.2.2 and others): computed over the
 * whole structure with its own 4-byte checksum field taken as zero, stored little-endian.
 */
public final class VhdxChecksum {
  private VhdxChecksum() {}

  /** The CRC-32C of {@code length} bytes from {@code start}, the field at {@code start + fieldOffset} as zeros. */
  public static long compute(byte[] bytes, int start, int length, int fieldOffset) {
    CRC32C crc = new CRC32C();
    crc.update(bytes, start, fieldOffset);
    crc.update(new byte[4]);
    crc.update(bytes, start + fieldOffset + 4, length - fieldOffset - 4);
    return crc.getValue();
  }

  /** Whether the checksum stored at {@code start + fieldOffset} matches the structure's bytes. */
  public static boolean valid(byte[] bytes, int start, int length, int fieldOffset) {
    long stored = Integer.toUnsignedLong(ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN)
        .getInt(start + fieldOffset));
    return stored == compute(bytes, start, length, fieldOffset);
  }

  /** Stores the structure's checksum in its field. */
  public static void fill(byte[] bytes, int start, int length, int fieldOffset) {
    long crc = compute(bytes, start, length, fieldOffset);
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(start + fieldOffset, (int) crc);
  }
}
