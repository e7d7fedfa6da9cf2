package io.qcow4j.qcow2;

import io.qcow4j.disk.ImageLimitException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One dirty bitmap in memory: one bit per granularity unit of the disk, set lock-free (an atomic OR
 * per word), so marking a write costs a few word operations and never waits for I/O. The words
 * live in pages of 64 KiB made at their first set bit, so a bitmap costs memory for what is dirty
 * only (a clean bitmap of 2^32 bits, QEMU's largest, costs its page table); all bitmaps of the
 * process together may hold at most a quarter of the heap in pages, past which a mark fails with
 * {@link ImageLimitException} rather than exhausting memory.
 */
final class DirtyBits {
  private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);
  private static final VarHandle PAGES = MethodHandles.arrayElementVarHandle(long[][].class);
  private static final int PAGE_WORD_BITS = 13;
  private static final int PAGE_WORDS = 1 << PAGE_WORD_BITS;
  private static final long PAGE_BYTES = PAGE_WORDS * 8L;
  /** The bytes of pages every bitmap of the process holds. */
  private static final AtomicLong PAGE_BYTES_HELD = new AtomicLong();
  private static final long PAGE_BYTES_LIMIT = Runtime.getRuntime().maxMemory() / 4;

  private final int granularityBits;
  private final long bitCount;
  private final long wordCount;
  private final long[][] pages;

  DirtyBits(long diskSize, int granularityBits) {
    this.granularityBits = granularityBits;
    this.bitCount = (diskSize + (1L << granularityBits) - 1) >>> granularityBits;
    this.wordCount = (bitCount + 63) >>> 6;
    long pageCount = (wordCount + PAGE_WORDS - 1) >>> PAGE_WORD_BITS;
    if (pageCount > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("a bitmap of " + bitCount + " bits does not fit in memory");
    }
    this.pages = new long[(int) pageCount][];
  }

  int granularityBits() {
    return granularityBits;
  }

  long bitCount() {
    return bitCount;
  }

  /** The word at {@code word}: 0 in a page not made yet. */
  private long word(long word) {
    long[] page = (long[]) PAGES.getAcquire(pages, (int) (word >>> PAGE_WORD_BITS));
    return page == null ? 0 : (long) WORDS.getOpaque(page, (int) (word & (PAGE_WORDS - 1)));
  }

  /** The page holding {@code word}, made (within the process's budget) when it is not there yet. */
  private long[] pageFor(long word) throws ImageLimitException {
    int index = (int) (word >>> PAGE_WORD_BITS);
    long[] page = (long[]) PAGES.getAcquire(pages, index);
    if (page != null) {
      return page;
    }
    if (PAGE_BYTES_HELD.addAndGet(PAGE_BYTES) > PAGE_BYTES_LIMIT) {
      PAGE_BYTES_HELD.addAndGet(-PAGE_BYTES);
      throw new ImageLimitException("the dirty bitmaps in memory would take more than " + PAGE_BYTES_LIMIT
          + " bytes (a quarter of the heap)");
    }
    long[] made = new long[PAGE_WORDS];
    long[] raced = (long[]) PAGES.compareAndExchangeRelease(pages, index, null, made);
    if (raced != null) {
      PAGE_BYTES_HELD.addAndGet(-PAGE_BYTES);
      return raced;
    }
    // pages are given back to the budget when the bitmap is collected
    java.lang.ref.Cleaner cleaner = CLEANER;
    cleaner.register(this, () -> PAGE_BYTES_HELD.addAndGet(-PAGE_BYTES));
    return made;
  }

  private static final java.lang.ref.Cleaner CLEANER = java.lang.ref.Cleaner.create();

  private void orWord(long word, long mask) throws ImageLimitException {
    if ((word(word) & mask) == mask) {
      return;
    }
    WORDS.getAndBitwiseOr(pageFor(word), (int) (word & (PAGE_WORDS - 1)), mask);
  }

  /** Sets the bits of every unit that {@code [offset, offset + length)} touches. */
  void mark(long offset, long length) throws ImageLimitException {
    if (length <= 0) {
      return;
    }
    long first = offset >>> granularityBits;
    long last = Math.min(bitCount - 1, (offset + length - 1) >>> granularityBits);
    setBits(first, last + 1);
  }

  /** Sets bits {@code [from, to)}. */
  void setBits(long from, long to) throws ImageLimitException {
    while (from < to) {
      long word = from >>> 6;
      long wordEnd = Math.min(to, (word + 1) << 6);
      orWord(word, maskOf(from, wordEnd));
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
    return (word(bit >>> 6) & (1L << (bit & 63))) != 0;
  }

  /** Clears every bit. */
  void clear() {
    for (long[] page : pages) {
      if (page != null) {
        for (int index = 0; index < page.length; index++) {
          WORDS.setOpaque(page, index, 0L);
        }
      }
    }
  }

  /** The first set bit at or after {@code bit}, or -1. */
  long nextSet(long bit) {
    while (bit < bitCount) {
      long word = bit >>> 6;
      if (PAGES.getAcquire(pages, (int) (word >>> PAGE_WORD_BITS)) == null) {
        bit = ((word >>> PAGE_WORD_BITS) + 1) << (PAGE_WORD_BITS + 6);
        continue;
      }
      long value = word(word) & (-1L << (bit & 63));
      if (value != 0) {
        long found = (word << 6) + Long.numberOfTrailingZeros(value);
        return found < bitCount ? found : -1;
      }
      bit = (word + 1) << 6;
    }
    return -1;
  }

  /** The first clear bit at or after {@code bit}, or {@link #bitCount()}. */
  long nextClear(long bit) {
    while (bit < bitCount) {
      long word = bit >>> 6;
      long value = ~word(word) & (-1L << (bit & 63));
      if (value != 0) {
        return Math.min(bitCount, (word << 6) + Long.numberOfTrailingZeros(value));
      }
      bit = (word + 1) << 6;
    }
    return bitCount;
  }

  /** Whether any bit of {@code [from, to)} is set. */
  boolean anySet(long from, long to) {
    long found = nextSet(from);
    return found >= 0 && found < to;
  }

  /** Sets the bits of every byte range that {@code source} marks (any granularity, same disk size). */
  void merge(DirtyBits source) throws ImageLimitException {
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
        value = (int) (word(bit >>> 6) >>> (bit & 63)) & 0xff;
      }
      out.put(start + index, (byte) value);
    }
    out.position(start + bytes);
  }

  /** Sets the bits that {@code in} holds for the range starting at bit {@code from} (see {@link #serialize}). */
  void deserialize(long from, ByteBuffer in) throws ImageLimitException {
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
        orWord(bit >>> 6, value);
      }
      in.position(start + whole);
      deserializeBytes(from + 8L * whole, in);
      return;
    }
    deserializeBytes(from, in);
  }

  private void deserializeBytes(long from, ByteBuffer in) throws ImageLimitException {
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
  DirtyBits resized(long newDiskSize) throws ImageLimitException {
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
