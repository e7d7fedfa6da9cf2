package io.qcow4j.ops;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * What qemu-img convert writes of a buffer of data and what it leaves out (its
 * is_allocated_sectors_min): runs of whole 512-byte sectors, the ends of runs moved to
 * multiples of the alignment where that saves a read-modify-write, and zero runs shorter than the
 * sparse threshold written with the data around them. Pure: no I/O.
 */
final class SparseRuns {
  /** The sectors {@link #sameKind} tests per call: 32 KiB. */
  private static final int SPAN_SECTORS = 64;
  private final int minSparseSectors;
  private final int alignmentSectors;

  /**
   * Runs for a sparse threshold of {@code minSparseSectors} (at least 1) and the target's request
   * alignment in sectors: the alignment is the larger of the two, the threshold rounded down to a
   * power of two (qemu-img's s->alignment).
   */
  SparseRuns(int minSparseSectors, int requestAlignmentSectors) {
    if (minSparseSectors < 1) {
      throw new IllegalArgumentException("sparse threshold must be at least one sector: " + minSparseSectors);
    }
    this.minSparseSectors = minSparseSectors;
    this.alignmentSectors = Math.max(Integer.highestOneBit(minSparseSectors), Math.max(1, requestAlignmentSectors));
  }

  /** The alignment (in sectors) that run ends are moved to. */
  int alignmentSectors() {
    return alignmentSectors;
  }

  /**
   * The run of sectors from {@code first} (of {@code count}) that is written (data, bridging zero
   * runs shorter than the threshold) or left out (zeros), packed as {@code sectors << 1 | written};
   * {@code filled} bytes of {@code data} are valid (a last partial sector counts by those), and
   * {@code sectorNumber} is the target sector of {@code first}.
   */
  long runMin(MemorySegment data, int filled, int first, int count, long sectorNumber) {
    return runMin(data, null, filled, first, count, sectorNumber);
  }

  /**
   * {@link #runMin(MemorySegment, int, int, int, long)} over {@code data} or, when not null, over
   * {@code mapped}: memory mapped from a file (in native order), tested with plain loads, which
   * fail with {@link InternalError} rather than crash when the file shrank (see {@link Buffers.Mapped}).
   */
  long runMin(MemorySegment data, ByteBuffer mapped, int filled, int first, int count, long sectorNumber) {
    return runMin(data, mapped, null, filled, first, count, sectorNumber);
  }

  /**
   * {@link #runMin(MemorySegment, ByteBuffer, int, int, int, long)} where {@code holes} (null: none)
   * lists ranges of the data known to read as zeros, {@code [from, to)} pairs of byte offsets in
   * ascending order (the holes of the file a mapping shows): a sector wholly inside one is zero
   * without a load, so its pages are never faulted in. The runs are the same as without it.
   */
  long runMin(MemorySegment data, ByteBuffer mapped, long[] holes, int filled, int first, int count,
      long sectorNumber) {
    int min = Math.min(minSparseSectors, count);
    long run = run(data, mapped, holes, filled, first, count, sectorNumber);
    if ((run & 1) == 0) {
      return run;
    }
    int used = (int) (run >>> 1);
    int checked = used;
    while (checked < count) {
      long next = run(data, mapped, holes, filled, first + checked, count - checked, sectorNumber + checked);
      int nextSectors = (int) (next >>> 1);
      checked += nextSectors;
      if ((next & 1) != 0) {
        used = checked;
      } else if (nextSectors >= min) {
        break;
      }
    }
    return (long) used << 1 | 1;
  }

  /** qemu-img's is_allocated_sectors: a run of sectors of one kind, its end aligned where possible. */
  long run(MemorySegment data, int filled, int first, int count, long sectorNumber) {
    return run(data, null, null, filled, first, count, sectorNumber);
  }

  private long run(MemorySegment data, ByteBuffer mapped, long[] holes, int filled, int first, int count,
      long sectorNumber) {
    boolean zero = sectorIsZero(data, mapped, holes, filled, first);
    int run = 1;
    while (run < count) {
      int span = Math.min(count - run, SPAN_SECTORS);
      int same = sameKind(data, mapped, holes, filled, first + run, span, zero);
      run += same;
      if (same < span) {
        break;
      }
    }
    if (run < count) {
      int tail = (int) ((sectorNumber + run) & (alignmentSectors - 1));
      if (tail != 0) {
        if (zero && run <= tail) {
          // the next sector is data, whose write would rewrite this tail anyway
          zero = false;
        }
        if (!zero) {
          run = Math.min(run + alignmentSectors - tail, count);
        } else {
          run -= tail;
        }
      }
    }
    return (long) run << 1 | (zero ? 0 : 1);
  }

  /**
   * The sectors from {@code first} (at most {@code span}) that are all zero or all data as
   * {@code zero} says. The sector loop is here, called once per span rather than once per run: a
   * method called a few times per 2 MiB chunk stays interpreted for a whole 256 MiB convert under
   * the tool's raised compile thresholds (a loop is compiled on its own after 600,000 turns), one
   * called per 32 KiB is compiled within the first tens of MiB.
   */
  private static int sameKind(MemorySegment data, ByteBuffer mapped, long[] holes, int filled, int first, int span,
      boolean zero) {
    for (int i = 0; i < span; i++) {
      if (sectorIsZero(data, mapped, holes, filled, first + i) != zero) {
        return i;
      }
    }
    return span;
  }

  private static boolean sectorIsZero(MemorySegment data, ByteBuffer mapped, long[] holes, int filled, int sector) {
    int from = sector * Buffers.SECTOR;
    int length = Math.min(Buffers.SECTOR, filled - from);
    if (holes != null && inHole(holes, from, from + length)) {
      return true;
    }
    return mapped != null ? Buffers.Mapped.isZero(mapped, from, length) : Buffers.isZero(data, from, length);
  }

  /** Whether {@code [from, to)} lies wholly inside one of the {@code holes} ({@code [from, to)} pairs, ascending). */
  private static boolean inHole(long[] holes, long from, long to) {
    for (int i = 0; i < holes.length; i += 2) {
      if (holes[i] > from) {
        return false;
      }
      if (to <= holes[i + 1]) {
        return true;
      }
    }
    return false;
  }
}
