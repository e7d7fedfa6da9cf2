package io.qcow4j.qcow2;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;

/**
 * One dirty bitmap in memory: one bit per granularity unit of the disk, set lock-free (an atomic OR
 * per word), so marking a write costs a few word operations and never waits for I/O.
 */
final class DirtyBits {
  private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);
  private final int granularityBits;
  private final long bitCount;
  private final long[] words;

  DirtyBits(long diskSize, int granularityBits) {
    this.granularityBits = granularityBits;
    this.bitCount = (diskSize + (1L << granularityBits) - 1) >>> granularityBits;
    long wordCount = (bitCount + 63) >>> 6;
    if (wordCount > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("a bitmap of " + bitCount + " bits does not fit in memory");
    }
    this.words = new long[(int) wordCount];
  }

  int granularityBits() {
    return granularityBits;
  }

  long bitCount() {
    return bitCount;
  }

  /** Sets the bits of every unit that {@code [offset, offset + length)} touches. */
  void mark(long offset, long length) {
    if (length <= 0) {
      return;
    }
    long first = offset >>> granularityBits;
    long last = Math.min(bitCount - 1, (offset + length - 1) >>> granularityBits);
    setBits(first, last + 1);
  }

  /** Sets bits {@code [from, to)}. */
  void setBits(long from, long to) {
    while (from < to) {
      int word = (int) (from >>> 6);
      long wordEnd = Math.min(to, ((long) word + 1) << 6);
      long mask = maskOf(from, wordEnd);
      long current = (long) WORDS.getOpaque(words, word);
      if ((current & mask) != mask) {
        WORDS.getAndBitwiseOr(words, word, mask);
      }
      from = wordEnd;
    }
  }

  private static long maskOf(long from, long to) {
    int low = (int) (from & 63);
    int count = (int) (to - from);
    long bits = count == 64 ? -1L : (1L << count) - 1;
    return bits << low;
  }

  boolean get(long bit) {
    return ((long) WORDS.getOpaque(words, (int) (bit >>> 6)) & (1L << (bit & 63))) != 0;
  }

  /** Clears every bit. */
  void clear() {
    for (int index = 0; index < words.length; index++) {
      WORDS.setOpaque(words, index, 0L);
    }
  }

  /** The first set bit at or after {@code bit}, or -1. */
  long nextSet(long bit) {
    while (bit < bitCount) {
      int word = (int) (bit >>> 6);
      long value = (long) WORDS.getOpaque(words, word) & (-1L << (bit & 63));
      if (value != 0) {
        long found = ((long) word << 6) + Long.numberOfTrailingZeros(value);
        return found < bitCount ? found : -1;
      }
      bit = ((long) word + 1) << 6;
    }
    return -1;
  }

  /** The first clear bit at or after {@code bit}, or {@link #bitCount()}. */
  long nextClear(long bit) {
    while (bit < bitCount) {
      int word = (int) (bit >>> 6);
      long value = ~(long) WORDS.getOpaque(words, word) & (-1L << (bit & 63));
      if (value != 0) {
        return Math.min(bitCount, ((long) word << 6) + Long.numberOfTrailingZeros(value));
      }
      bit = ((long) word + 1) << 6;
    }
    return bitCount;
  }

  /** Whether any bit of {@code [from, to)} is set. */
  boolean anySet(long from, long to) {
    long found = nextSet(from);
    return found >= 0 && found < to;
  }

  /** Sets the bits of every byte range that {@code source} marks (any granularity, same disk size). */
  void merge(DirtyBits source) {
    long bit = source.nextSet(0);
    while (bit >= 0) {
      long end = source.nextClear(bit);
      long offset = bit << source.granularityBits;
      mark(offset, (end - bit) << source.granularityBits);
      bit = end >= source.bitCount ? -1 : source.nextSet(end);
    }
  }

  /**
   * Writes bits {@code [from, from + 8 * out.remaining())} into {@code out} as the qcow2 bitmap
   * data holds them: bit i of the range is bit (i % 8) of byte i / 8; bits past the end are zero.
   */
  void serialize(long from, ByteBuffer out) {
    int bytes = out.remaining();
    int start = out.position();
    for (int index = 0; index < bytes; index++) {
      long bit = from + 8L * index;
      int value = 0;
      if (bit < bitCount) {
        // from is a multiple of 8: one byte never straddles two words
        long word = (long) WORDS.getOpaque(words, (int) (bit >>> 6));
        value = (int) (word >>> (bit & 63)) & 0xff;
      }
      out.put(start + index, (byte) value);
    }
    out.position(start + bytes);
  }

  /** Sets the bits that {@code in} holds for the range starting at bit {@code from} (see {@link #serialize}). */
  void deserialize(long from, ByteBuffer in) {
    int bytes = in.remaining();
    int start = in.position();
    if ((from & 63) == 0) {
      // whole words at once: bit i of the range is bit (i % 64) of the little-endian word i / 64
      ByteBuffer little = in.slice().order(java.nio.ByteOrder.LITTLE_ENDIAN);
      int whole = bytes & ~7;
      for (int index = 0; index < whole; index += 8) {
        long value = little.getLong(index);
        long bit = from + 8L * index;
        if (value == 0 || bit >= bitCount) {
          continue;
        }
        long valid = bitCount - bit;
        if (valid < 64) {
          value &= (1L << valid) - 1;
        }
        WORDS.getAndBitwiseOr(words, (int) (bit >>> 6), value);
      }
      in.position(start + whole);
      deserializeBytes(from + 8L * whole, in);
      return;
    }
    deserializeBytes(from, in);
  }

  private void deserializeBytes(long from, ByteBuffer in) {
    int bytes = in.remaining();
    int start = in.position();
    for (int index = 0; index < bytes; index++) {
      int value = in.get(start + index) & 0xff;
      if (value == 0) {
        continue;
      }
      long bit = from + 8L * index;
      for (int offset = 0; offset < 8 && bit + offset < bitCount; offset++) {
        if ((value & (1 << offset)) != 0) {
          setBits(bit + offset, bit + offset + 1);
        }
      }
    }
    in.position(start + bytes);
  }

  /** A copy of these bits over a disk of {@code newDiskSize} bytes (cut or grown clean). */
  DirtyBits resized(long newDiskSize) {
    DirtyBits resized = new DirtyBits(newDiskSize, granularityBits);
    long bit = nextSet(0);
    while (bit >= 0 && bit < resized.bitCount) {
      long end = Math.min(nextClear(bit), resized.bitCount);
      resized.setBits(bit, end);
      bit = end >= bitCount ? -1 : nextSet(end);
    }
    return resized;
  }
}
