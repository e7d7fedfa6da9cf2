package io.qcow4j.vhdx;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.UUID;

/**
 * GUIDs as VHDX stores them (MS-VHDX section 1.3, the Windows GUID structure): the first three
 * fields little-endian, the last eight bytes as they are; pure conversion, no I/O.
 */
public final class VhdxGuid {
  /** The all-zero GUID (an empty log's LogGuid). */
  public static final UUID ZERO = new UUID(0, 0);
  /** The size of a stored GUID. */
  public static final int SIZE = 16;

  private VhdxGuid() {}

  /** The GUID stored at {@code offset} of {@code bytes}. */
  public static UUID read(byte[] bytes, int offset) {
    ByteBuffer little = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    long data1 = Integer.toUnsignedLong(little.getInt(offset));
    long data2 = Short.toUnsignedLong(little.getShort(offset + 4));
    long data3 = Short.toUnsignedLong(little.getShort(offset + 6));
    long data4 = ByteBuffer.wrap(bytes).order(ByteOrder.BIG_ENDIAN).getLong(offset + 8);
    return new UUID(data1 << 32 | data2 << 16 | data3, data4);
  }

  /** Stores {@code guid} at {@code offset} of {@code bytes}. */
  public static void write(byte[] bytes, int offset, UUID guid) {
    ByteBuffer little = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    long high = guid.getMostSignificantBits();
    little.putInt(offset, (int) (high >>> 32));
    little.putShort(offset + 4, (short) (high >>> 16));
    little.putShort(offset + 6, (short) high);
    ByteBuffer.wrap(bytes).order(ByteOrder.BIG_ENDIAN).putLong(offset + 8, guid.getLeastSignificantBits());
  }
}
