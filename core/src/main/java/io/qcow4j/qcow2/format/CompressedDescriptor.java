package io.qcow4j.qcow2.format;

/**
 * A compressed cluster descriptor: the host byte offset of the compressed data and the count of
 * 512-byte sectors it may span. With {@code x = 62 - (cluster_bits - 8)}, bits 0..x-1 hold the
 * offset and bits x..61 the count of additional sectors after the one holding the offset.
 */
public record CompressedDescriptor(long hostOffset, int additionalSectors) {

  /** The number of offset bits for a cluster size of {@code 1 << clusterBits}. */
  public static int offsetBits(int clusterBits) {
    return 62 - (clusterBits - 8);
  }

  /** Decodes the descriptor held by an L2 entry (flags included). */
  public static CompressedDescriptor decode(long entry, int clusterBits) {
    int bits = offsetBits(clusterBits);
    long offset = entry & ((1L << bits) - 1);
    long sectors = (entry & ((1L << 62) - 1)) >>> bits;
    return new CompressedDescriptor(offset, (int) sectors);
  }

  /** The L2 entry (with the compressed flag) for this descriptor. */
  public long encode(int clusterBits) {
    int bits = offsetBits(clusterBits);
    return L2Entry.COMPRESSED | ((long) additionalSectors << bits) | hostOffset;
  }

  /** The most bytes the compressed data may occupy: to the end of its last sector. */
  public long maxLength() {
    return (additionalSectors + 1L) * 512 - (hostOffset & 511);
  }

  /** A descriptor for {@code length} compressed bytes at {@code hostOffset}. */
  public static CompressedDescriptor of(long hostOffset, long length) {
    long lastSector = (hostOffset + length - 1) >> 9;
    return new CompressedDescriptor(hostOffset, (int) (lastSector - (hostOffset >> 9)));
  }
}
