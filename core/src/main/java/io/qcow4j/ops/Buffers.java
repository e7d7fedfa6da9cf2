package io.qcow4j.ops;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.util.Arrays;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Zero detection and comparison, sector by sector as qemu-img counts, over byte arrays and direct
 * buffers, and the bounded pools of direct buffers that convert and compare read into.
 */
final class Buffers {
  static final int SECTOR = 512;
  /** qemu-img's IO_BUF_SIZE: the most that compare and convert read at once. */
  static final int IO_BUFFER_BYTES = 2 << 20;
  private static final byte[] ZEROS = new byte[IO_BUFFER_BYTES];
  /**
   * Zeros to compare direct buffers with: {@link ByteBuffer#mismatch} of two direct buffers
   * compares eight bytes (or a vector) at a time, with no copy onto the heap.
   */
  private static final ByteBuffer DIRECT_ZEROS = ByteBuffer.allocateDirect(IO_BUFFER_BYTES).asReadOnlyBuffer();
  /** The same zeros as a segment, for tests that make no object per call. */
  private static final MemorySegment ZERO_SEGMENT = MemorySegment.ofBuffer(DIRECT_ZEROS);

  private Buffers() {}

  /** Whether {@code length} bytes of {@code buffer} from {@code from} are all zero. */
  static boolean isZero(byte[] buffer, int from, int length) {
    int checked = 0;
    while (checked < length) {
      int step = Math.min(length - checked, ZEROS.length);
      if (Arrays.mismatch(buffer, from + checked, from + checked + step, ZEROS, 0, step) >= 0) {
        return false;
      }
      checked += step;
    }
    return true;
  }

  /** Whether {@code length} bytes of {@code buffer} from its index {@code from} are all zero (positions untouched). */
  static boolean isZero(ByteBuffer buffer, int from, int length) {
    return firstNonZero(buffer, from, length) < 0;
  }

  /**
   * Whether {@code length} bytes (at most {@link #IO_BUFFER_BYTES}) of {@code data} from
   * {@code from} are all zero, without making an object: for tests sector by sector.
   */
  static boolean isZero(MemorySegment data, long from, int length) {
    return MemorySegment.mismatch(data, from, from + length, ZERO_SEGMENT, 0, length) < 0;
  }

  /** The index (relative to {@code from}) of the first non-zero byte of the range, -1 if none. */
  static int firstNonZero(ByteBuffer buffer, int from, int length) {
    int checked = 0;
    while (checked < length) {
      int step = Math.min(length - checked, IO_BUFFER_BYTES);
      int index = buffer.slice(from + checked, step).mismatch(DIRECT_ZEROS.slice(0, step));
      if (index >= 0) {
        return checked + index;
      }
      checked += step;
    }
    return -1;
  }

  /**
   * The start of the first sector (relative to the segments' starts) where the first {@code length}
   * bytes of the two differ; -1 if none. With {@code mapped}, either may be a mapping of a file
   * (see {@link Mapped}).
   */
  static int firstDifferentSector(MemorySegment first, MemorySegment second, int length, boolean mapped) {
    long index = mapped ? Mapped.mismatch(first, second, length) : MemorySegment.mismatch(first, 0, length, second, 0, length);
    return index < 0 ? -1 : alignDown((int) index);
  }

  /**
   * The start of the first sector of the segment's first {@code length} bytes holding a non-zero
   * byte; -1 if none. With {@code mapped}, the segment may be a mapping of a file (see {@link Mapped}).
   */
  static int firstNonZeroSector(MemorySegment data, int length, boolean mapped) {
    long index;
    if (mapped) {
      index = Mapped.firstNonZero(data, 0, length);
    } else {
      index = -1;
      for (int checked = 0; checked < length && index < 0; checked += IO_BUFFER_BYTES) {
        int step = Math.min(length - checked, IO_BUFFER_BYTES);
        long found = MemorySegment.mismatch(data, checked, checked + step, ZERO_SEGMENT, 0, step);
        index = found < 0 ? -1 : checked + found;
      }
    }
    return index < 0 ? -1 : alignDown((int) index);
  }

  /**
   * Tests over memory mapped from a file, read eight bytes at a time with plain loads: when the
   * file shrinks meanwhile, a load past its new end faults, and the JVM turns a fault of such a
   * load into an {@link InternalError}. The JDK's vectorized mismatch ({@link MemorySegment#mismatch},
   * {@link ByteBuffer#mismatch}) is a stub the JVM does not cover so: the same fault there kills
   * the process.
   */
  static final class Mapped {
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;

    private Mapped() {}

    /**
     * Block by block: a call per block gets the loop compiled after a few dozen blocks, where one
     * call over megabytes would run interpreted until the JIT replaced it mid-loop, and interpreted,
     * each segment access is a chain of method handle calls.
     */
    private static final int BLOCK = 4096;

    /** The index of the first byte where the first {@code length} bytes of the two differ; -1 if none. */
    static long mismatch(MemorySegment first, MemorySegment second, long length) {
      return mismatch(directView(first), directView(second), 0, (int) length);
    }

    /**
     * A view of the segment (at most 2 GiB) typed so that the JIT binds its getLong without a
     * profile: {@link MappedByteBuffer}'s one implementation of it is the JDK's direct buffer's,
     * where {@link ByteBuffer} has several, and a loop compiled before its calls were profiled
     * (the JIT does that when its queue is long) made each getLong a virtual call: a 4 GiB compare
     * took 3 times the CPU.
     * A segment on the heap (tests) is copied into a direct buffer first.
     */
    static MappedByteBuffer directView(MemorySegment segment) {
      MemorySegment direct = segment;
      if (!segment.isNative()) {
        direct = MemorySegment.ofBuffer(ByteBuffer.allocateDirect((int) segment.byteSize())).copyFrom(segment);
      }
      return (MappedByteBuffer) direct.asByteBuffer().order(ByteOrder.nativeOrder());
    }

    /**
     * The index (relative to {@code from}) of the first byte where {@code length} bytes of the two
     * buffers from index {@code from} differ; -1 if none. Block by block: a call per block gets
     * the block's loop compiled after a few MiB, where one call over a whole range would run its
     * loop interpreted until the JIT replaced it mid-loop; and the blocks in spans of
     * {@link #SPAN}, so that the loop over the blocks is compiled within the first hundred MiB too
     * (this loop, called once per range, ran interpreted for gigabytes: a tenth of a 4 GiB
     * compare's CPU).
     */
    static int mismatch(MappedByteBuffer first, MappedByteBuffer second, int from, int length) {
      for (int span = from, end = from + length; span < end; span += SPAN) {
        int found = spanMismatch(first, second, span, Math.min(SPAN, end - span));
        if (found >= 0) {
          return found - from;
        }
      }
      return -1;
    }

    /** Blocks in a span of compare's loop: 16 blocks of 4 KiB. */
    private static final int SPAN = 16 * BLOCK;

    /** The index of the first byte from {@code from} where {@code length} bytes of the two differ; -1 if none. */
    private static int spanMismatch(MappedByteBuffer first, MappedByteBuffer second, int from, int length) {
      for (int block = from, end = from + length; block < end; block += BLOCK) {
        int found = blockMismatch(first, second, block, Math.min(BLOCK, end - block));
        if (found >= 0) {
          return found;
        }
      }
      return -1;
    }

    private static int blockMismatch(MappedByteBuffer first, MappedByteBuffer second, int from, int length) {
      int end = from + length;
      // the common case first: the whole block equal, tested with no branch per word (a third
      // faster than stopping at the first differing word); the search below finds where
      long differs = 0;
      int whole = from + (length & ~31);
      for (int at = from; at < whole; at += 32) {
        differs |= (first.getLong(at) ^ second.getLong(at)) | (first.getLong(at + 8) ^ second.getLong(at + 8))
            | (first.getLong(at + 16) ^ second.getLong(at + 16)) | (first.getLong(at + 24) ^ second.getLong(at + 24));
      }
      if (differs == 0 && whole == end) {
        return -1;
      }
      int index = from;
      while (index + 8 <= end && first.getLong(index) == second.getLong(index)) {
        index += 8;
      }
      for (; index < end; index++) {
        if (first.get(index) != second.get(index)) {
          return index;
        }
      }
      return -1;
    }

    /**
     * The index (relative to {@code from}) of the first non-zero byte of the range; -1 if none. A
     * range of a block or less is read through the segment, which makes no object; a longer one
     * through a buffer view, block by block.
     */
    static long firstNonZero(MemorySegment data, long from, long length) {
      if (length <= BLOCK) {
        return segmentNonZero(data, from, length);
      }
      return firstNonZero(view(data), (int) from, (int) length);
    }

    private static long segmentNonZero(MemorySegment data, long from, long length) {
      long end = from + length;
      long index = from;
      for (; index + 32 <= end; index += 32) {
        long bits = data.get(LONG, index) | data.get(LONG, index + 8) | data.get(LONG, index + 16)
            | data.get(LONG, index + 24);
        if (bits != 0) {
          break;
        }
      }
      for (; index < end; index++) {
        if (data.get(ValueLayout.JAVA_BYTE, index) != 0) {
          return index - from;
        }
      }
      return -1;
    }

    /**
     * The index (relative to {@code from}) of the first non-zero byte of the buffer's range (by
     * index, in {@link ByteOrder#nativeOrder()}); -1 if none.
     */
    static int firstNonZero(ByteBuffer data, int from, int length) {
      for (int block = 0; block < length; block += BLOCK) {
        int found = blockNonZero(data, from + block, Math.min(BLOCK, length - block));
        if (found >= 0) {
          return block + found;
        }
      }
      return -1;
    }

    /**
     * Whether the buffer's range (by index) holds only zeros: for convert's sector tests, where
     * data shows in a sector's first word, one load; a zero sector is read whole, with no branch
     * per word.
     */
    static boolean isZero(ByteBuffer data, int from, int length) {
      int whole = from + (length & ~7);
      if (whole > from && data.getLong(from) != 0) {
        return false;
      }
      long any = 0;
      for (int at = from; at < whole; at += 8) {
        any |= data.getLong(at);
      }
      for (int at = whole; at < from + length; at++) {
        any |= data.get(at);
      }
      return any == 0;
    }

    /**
     * A buffer over the segment (at most 2 GiB): interpreted, a buffer's getLong is a few calls
     * where a segment's goes through a chain of method handles.
     */
    static ByteBuffer view(MemorySegment segment) {
      return segment.asByteBuffer().order(ByteOrder.nativeOrder());
    }

    private static int blockNonZero(ByteBuffer data, int from, int length) {
      int end = from + length;
      // data shows in its first word (convert tests sector by sector): the search below finds it
      // at once; else, as blockMismatch, the whole block tested with no branch per word
      if (length < 8 || data.getLong(from) == 0) {
        long any = 0;
        int whole = from + (length & ~7);
        for (int at = from; at < whole; at += 8) {
          any |= data.getLong(at);
        }
        if (any == 0 && whole == end) {
          return -1;
        }
      }
      int index = from;
      for (; index + 32 <= end; index += 32) {
        long bits = data.getLong(index) | data.getLong(index + 8) | data.getLong(index + 16) | data.getLong(index + 24);
        if (bits != 0) {
          break;
        }
      }
      for (; index < end; index++) {
        if (data.get(index) != 0) {
          return index - from;
        }
      }
      return -1;
    }
  }

  /** Whether {@code length} bytes of the two buffers from index {@code from} are equal. */
  static boolean equal(ByteBuffer first, ByteBuffer second, int from, int length) {
    return first.slice(from, length).mismatch(second.slice(from, length)) < 0;
  }

  /** Sets {@code length} bytes of {@code buffer} from index {@code from} to zero (positions untouched). */
  static void fillZeros(ByteBuffer buffer, int from, int length) {
    int filled = 0;
    while (filled < length) {
      int step = Math.min(length - filled, IO_BUFFER_BYTES);
      buffer.put(from + filled, DIRECT_ZEROS, 0, step);
      filled += step;
    }
  }

  private static int alignDown(int index) {
    return index / SECTOR * SECTOR;
  }

  /**
   * Direct buffers of one size, made on first demand and reused: the caller bounds how many are
   * out at once (its window of requests in flight), so the memory is that bound times the size,
   * whatever the image's size. Thread-safe.
   */
  static final class Pool {
    private final int bufferBytes;
    private final ConcurrentLinkedQueue<ByteBuffer> free = new ConcurrentLinkedQueue<>();

    Pool(int bufferBytes) {
      this.bufferBytes = bufferBytes;
    }

    /** A cleared buffer of the pool's size. */
    ByteBuffer take() {
      ByteBuffer buffer = free.poll();
      return buffer != null ? buffer.clear() : ByteBuffer.allocateDirect(bufferBytes);
    }

    /** Gives {@code buffer} (from {@link #take}, or null) back. */
    void give(ByteBuffer buffer) {
      if (buffer != null) {
        free.add(buffer);
      }
    }
  }
}
