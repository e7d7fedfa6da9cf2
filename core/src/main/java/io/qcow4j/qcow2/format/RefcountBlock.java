package io.qcow4j.qcow2.format;

/**
 * Reads and writes refcounts in a refcount block, for every refcount order (1 to 64 bits). Entries
 * narrower than a byte are packed from the least significant bit; wider ones are big-endian.
 */
public final class RefcountBlock {
  private RefcountBlock() {}

  /** The number of refcounts one block of {@code clusterSize} bytes holds. */
  public static long entries(int clusterSize, int refcountOrder) {
    return (clusterSize * 8L) >> refcountOrder;
  }

  /** The largest refcount an entry of this order can hold. */
  public static long maxValue(int refcountOrder) {
    return refcountOrder == 6 ? -1L : (1L << (1 << refcountOrder)) - 1;
  }

  /** The refcount at {@code index} (unsigned; 64-bit values above Long.MAX_VALUE come back negative). */
  public static long get(byte[] block, int index, int refcountOrder) {
    return switch (refcountOrder) {
      case 0, 1, 2 -> {
        int bits = 1 << refcountOrder;
        int perByte = 8 / bits;
        int shift = (index % perByte) * bits;
        yield ((block[index / perByte] & 0xff) >>> shift) & ((1 << bits) - 1);
      }
      case 3 -> block[index] & 0xffL;
      case 4 -> ((block[2 * index] & 0xffL) << 8) | (block[2 * index + 1] & 0xffL);
      case 5 -> readBig(block, 4 * index, 4);
      case 6 -> readBig(block, 8 * index, 8);
      default -> throw new IllegalArgumentException("refcount order " + refcountOrder);
    };
  }

  /** Stores {@code value} at {@code index}; the caller checks it fits the order. */
  public static void set(byte[] block, int index, int refcountOrder, long value) {
    switch (refcountOrder) {
      case 0, 1, 2 -> {
        int bits = 1 << refcountOrder;
        int perByte = 8 / bits;
        int shift = (index % perByte) * bits;
        int mask = ((1 << bits) - 1) << shift;
        int at = index / perByte;
        block[at] = (byte) ((block[at] & ~mask) | (((int) value << shift) & mask));
      }
      case 3 -> block[index] = (byte) value;
      case 4 -> {
        block[2 * index] = (byte) (value >>> 8);
        block[2 * index + 1] = (byte) value;
      }
      case 5 -> writeBig(block, 4 * index, 4, value);
      case 6 -> writeBig(block, 8 * index, 8, value);
      default -> throw new IllegalArgumentException("refcount order " + refcountOrder);
    }
  }

  private static long readBig(byte[] block, int at, int width) {
    long value = 0;
    for (int i = 0; i < width; i++) {
      value = (value << 8) | (block[at + i] & 0xffL);
    }
    return value;
  }

  private static void writeBig(byte[] block, int at, int width, long value) {
    for (int i = width - 1; i >= 0; i--) {
      block[at + i] = (byte) value;
      value >>>= 8;
    }
  }
}
