package io.qcow4j.vmdk.format;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A streamOptimized marker (VMware "Virtual Disk Format 5.0", Stream-Optimized Compressed Sparse
 * Extents): {@code value} (a grain's LBA, or a metadata marker's size in sectors), {@code size}
 * (the compressed grain's byte count, 0 for a metadata marker) and, when {@code size} is 0, the
 * marker {@code type}.
 */
public record Marker(long value, long size, long type) {
  /** The end-of-stream marker type. */
  public static final int END_OF_STREAM = 0;
  /** The grain table marker type. */
  public static final int GRAIN_TABLE = 1;
  /** The grain directory marker type. */
  public static final int GRAIN_DIRECTORY = 2;
  /** The footer marker type. */
  public static final int FOOTER = 3;
  /** The bytes before a compressed grain's data: LBA (8) and size (4). */
  public static final int GRAIN_HEADER_BYTES = 12;

  /** Decodes the marker at the position of {@code bytes} (at least 16 bytes, 12 for a grain marker). */
  public static Marker decode(ByteBuffer bytes) {
    ByteBuffer le = bytes.slice().order(ByteOrder.LITTLE_ENDIAN);
    long value = le.getLong(0);
    long size = Integer.toUnsignedLong(le.getInt(8));
    long type = le.remaining() >= 16 ? Integer.toUnsignedLong(le.getInt(12)) : -1;
    return new Marker(value, size, type);
  }

  /** Whether this is a metadata marker of {@code markerType} (size 0). */
  public boolean is(int markerType) {
    return size == 0 && type == markerType;
  }
}
