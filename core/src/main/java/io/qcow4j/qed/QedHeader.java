package io.qcow4j.qed;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The QED header (QEMU's docs/interop/qed_spec.txt, little-endian) and the geometry it implies;
 * pure decoding and checks, no I/O.
 */
public record QedHeader(
    long magic,
    long clusterSize,
    long tableSize,
    long headerSize,
    long features,
    long compatFeatures,
    long autoclearFeatures,
    long l1TableOffset,
    long imageSize,
    long backingNameOffset,
    long backingNameSize) {

  /** The bytes the header fields take. */
  public static final int SIZE = 64;
  /** "QED\0" read as a little-endian number. */
  public static final long MAGIC = 'Q' | ('E' << 8) | ('D' << 16);
  /** The image has a backing file. */
  public static final long FEATURE_BACKING_FILE = 0x01;
  /** The image was not closed cleanly and needs a consistency check. */
  public static final long FEATURE_NEED_CHECK = 0x02;
  /** The backing file is raw and must not be probed. */
  public static final long FEATURE_BACKING_FORMAT_NO_PROBE = 0x04;
  /** Every feature bit QEMU 7.2 knows. */
  public static final long KNOWN_FEATURES = 0x07;
  private static final long MIN_CLUSTER_SIZE = 4096;
  private static final long MAX_CLUSTER_SIZE = 64L << 20;
  private static final long MAX_TABLE_SIZE = 16;

  /** Decodes the header fields. */
  public static QedHeader decode(byte[] bytes) {
    ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    return new QedHeader(u32(buffer, 0), u32(buffer, 4), u32(buffer, 8), u32(buffer, 12), buffer.getLong(16),
        buffer.getLong(24), buffer.getLong(32), buffer.getLong(40), buffer.getLong(48), u32(buffer, 56),
        u32(buffer, 60));
  }

  private static long u32(ByteBuffer buffer, int offset) {
    return Integer.toUnsignedLong(buffer.getInt(offset));
  }

  /** qed_is_cluster_size_valid: a power of two from 4 KiB to 64 MiB. */
  public boolean clusterSizeValid() {
    return Long.bitCount(clusterSize) == 1 && clusterSize >= MIN_CLUSTER_SIZE && clusterSize <= MAX_CLUSTER_SIZE;
  }

  /** qed_is_table_size_valid: a power of two from 1 to 16 clusters. */
  public boolean tableSizeValid() {
    return Long.bitCount(tableSize) == 1 && tableSize <= MAX_TABLE_SIZE;
  }

  /** Entries in one L1 or L2 table. */
  public long tableEntries() {
    return clusterSize * tableSize / 8;
  }

  /** qed_is_image_size_valid: within what two table levels map, a whole number of sectors. */
  public boolean imageSizeValid() {
    long entries = tableEntries();
    long max = entries * clusterSize * entries;
    return Long.compareUnsigned(imageSize, max) <= 0 && imageSize % 512 == 0;
  }

  /** The header's length in bytes (header_size clusters). */
  public long headerBytes() {
    return headerSize * clusterSize;
  }

  /** The guest bytes one L2 table maps. */
  public long l2Span() {
    return tableEntries() * clusterSize;
  }
}
