package io.qcow4j.internal.storagenodes;

import java.util.ArrayList;
import java.util.List;

/**
 * The request limits a blkdebug node imposes (its align, max-transfer, opt-write-zero,
 * max-write-zero, opt-discard and max-discard options; 0: not set) and how QEMU's block layer cuts
 * a write of zeroes or a discard into the requests blkdebug then sees (bdrv_co_do_pwrite_zeroes,
 * bdrv_co_pdiscard), with blkdebug's answer to each: passed on, refused as too small (a write of
 * zeroes then falls back to writing zeros, a discard is dropped). Pure.
 */
public record BlkdebugLimits(long align, long maxTransfer, long optWriteZero, long maxWriteZero, long optDiscard,
    long maxDiscard) {
  /** No limits: every request passes whole. */
  public static final BlkdebugLimits NONE = new BlkdebugLimits(0, 0, 0, 0, 0, 0);
  /** QEMU's MAX_BOUNCE_BUFFER: the largest write of zeros a fallback makes at once. */
  private static final long MAX_BOUNCE_BUFFER = 32768L * 512;

  /** What happens to one piece of a request. */
  public enum Fate {
    /** blkdebug passes it to its image. */
    PASS,
    /** A write of zeroes written as zeros (blkdebug refused it: smaller than its alignment). */
    WRITE_ZEROS,
    /** A discard dropped (smaller than blkdebug's request alignment). */
    DROP
  }

  /** One piece of a request: {@code length} bytes at {@code offset}, and its fate. */
  public record Piece(long offset, long length, Fate fate) {}

  /** Whether any option changes how requests are cut. */
  public boolean any() {
    return align != 0 || maxTransfer != 0 || optWriteZero != 0 || maxWriteZero != 0 || optDiscard != 0
        || maxDiscard != 0;
  }

  private long requestAlignment() {
    return Math.max(align, 1);
  }

  /** The pieces of a write of zeroes of {@code length} bytes at {@code offset}. */
  public List<Piece> writeZeroes(long offset, long length) {
    List<Piece> pieces = new ArrayList<>();
    long alignment = Math.max(optWriteZero, requestAlignment());
    long maxZeroes = maxWriteZero == 0 ? Long.MAX_VALUE : maxWriteZero;
    maxZeroes = maxZeroes / alignment * alignment;
    long transfer = maxTransfer == 0 ? MAX_BOUNCE_BUFFER : Math.min(maxTransfer, MAX_BOUNCE_BUFFER);
    long head = offset % alignment;
    long tail = (offset + length) % alignment;
    while (length > 0) {
      long count = length;
      if (head != 0) {
        count = Math.min(Math.min(length, transfer), alignment - head);
        head = (head + count) % alignment;
      } else if (tail != 0 && count > alignment) {
        count -= tail;
      }
      count = Math.min(count, maxZeroes);
      // blkdebug_co_pwrite_zeroes: only requests of at least its alignment go down
      if (count >= alignment) {
        pieces.add(new Piece(offset, count, Fate.PASS));
      } else {
        count = Math.min(count, transfer);
        pieces.add(new Piece(offset, count, Fate.WRITE_ZEROS));
      }
      offset += count;
      length -= count;
    }
    return pieces;
  }

  /** The pieces of a discard of {@code length} bytes at {@code offset}. */
  public List<Piece> discard(long offset, long length) {
    List<Piece> pieces = new ArrayList<>();
    long requestAlignment = requestAlignment();
    long alignment = Math.max(optDiscard, requestAlignment);
    long maxDiscardBytes = (maxDiscard == 0 ? Long.MAX_VALUE : maxDiscard) / alignment * alignment;
    long head = offset % alignment;
    long tail = (offset + length) % alignment;
    while (length > 0) {
      long count = length;
      if (head != 0) {
        count = Math.min(length, alignment - head);
        if (count % requestAlignment != 0) {
          count %= requestAlignment;
        }
        head = (head + count) % alignment;
      } else if (tail != 0) {
        if (count > alignment) {
          count -= tail;
        } else if (tail % requestAlignment != 0 && tail > requestAlignment) {
          tail %= requestAlignment;
          count -= tail;
        }
      }
      count = Math.min(count, maxDiscardBytes);
      // blkdebug_co_pdiscard: a request smaller than its alignment is refused, and the block layer ignores that
      pieces.add(new Piece(offset, count, count < requestAlignment ? Fate.DROP : Fate.PASS));
      offset += count;
      length -= count;
    }
    return pieces;
  }
}
