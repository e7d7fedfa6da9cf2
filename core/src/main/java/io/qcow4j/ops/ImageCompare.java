package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.internal.TaskFailures;
import io.qcow4j.ops.CompareException.Stage;
import io.qcow4j.ops.CompareResult.Outcome;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Compares the guest content of two images the way qemu-img compare does: ranges that read as
 * zeros in both are skipped, ranges allocated in only one must read as zeros there, and when the
 * sizes differ the larger image's tail must read as zeros (unless strict, where a size mismatch
 * is a difference). Mismatch offsets are sector-granular like qemu-img's.
 *
 * <p>Block status is walked on the calling thread, range by range as qemu-img walks it (the same
 * queries at the same offsets, so the same ranges, progress steps and offsets in messages). The
 * ranges to read are checked by {@link #IN_FLIGHT} tasks at once on other threads and their
 * verdicts taken in offset order, so the first difference (or failure) reported is the one a
 * walk in order finds, whichever task finishes first. Consecutive ranges that both images hold
 * make one task of up to {@link #BATCH_BYTES}: for images that keep them byte for byte in a local
 * file (raw, contiguous clusters of a qcow2), one read-only mapping of each file for the whole
 * task, tested in place with no copy by the kernel; otherwise, range by range, mapped or read into
 * pooled direct buffers.
 */
public final class ImageCompare {
  /** Tasks checked at once: two cores' worth, and the next ones ready. */
  private static final int IN_FLIGHT = 4;
  /**
   * The most bytes of consecutive ranges one task compares: fewer mappings, tasks and objects per
   * byte than a task per 2 MiB range (each mapping also costs a munmap), and at most
   * {@code IN_FLIGHT} times this mapped at once.
   */
  static final int BATCH_BYTES = 8 << 20;

  private ImageCompare() {}

  /** Progress reports: the bytes of the larger image covered so far, and its size. */
  @FunctionalInterface
  public interface Progress {
    /** Reports that {@code doneBytes} of {@code totalBytes} are compared. */
    void update(long doneBytes, long totalBytes);

    /** Reports nothing. */
    Progress NONE = (done, total) -> {};
  }

  /** Compares {@code first} with {@code second}; {@code strict} also compares sizes and block status. */
  public static CompareResult compare(DiskFile first, DiskFile second, boolean strict, Progress progress)
      throws IOException {
    long size1 = first.size();
    long size2 = second.size();
    if (strict && size1 != size2) {
      return new CompareResult(Outcome.STRICT_SIZE_MISMATCH, -1, false);
    }
    ExecutorService workers = Executors.newVirtualThreadPerTaskExecutor();
    try {
      return new Walk(first, second, strict, progress, workers).run();
    } finally {
      workers.shutdownNow();
    }
  }

  /** The ends of the ranges of one task (or of the ranges with nothing to read after it), in order. */
  private static final class Ends {
    private long[] ends = new long[4];
    private int count;

    void add(long end) {
      if (count == ends.length) {
        ends = Arrays.copyOf(ends, count * 2);
      }
      ends[count++] = end;
    }

    int count() {
      return count;
    }

    long get(int index) {
      return ends[index];
    }

    long[] toArray() {
      return Arrays.copyOf(ends, count);
    }
  }

  /** A task in flight: its verdict (null when there is nothing to wait for) and the ranges it covers. */
  private record Pending(Future<CompareResult> verdict, Ends ends) {}

  /** Consecutive ranges both images hold, gathered into one task. */
  private static final class Batch {
    final long start;
    final Ends ends = new Ends();
    long end;

    Batch(long start) {
      this.start = start;
      this.end = start;
    }

    void add(long rangeEnd) {
      ends.add(rangeEnd);
      end = rangeEnd;
    }

    long bytes() {
      return end - start;
    }
  }

  /** One comparison: the walk's window of tasks in flight and the buffers they read into. */
  private static final class Walk {
    private final DiskFile first;
    private final DiskFile second;
    private final boolean strict;
    private final Progress progress;
    private final ExecutorService workers;
    private final long size1;
    private final long size2;
    private final long total;
    // direct buffers: a read into a heap array is copied again through the JDK's temporary buffer
    private final Buffers.Pool buffers = new Buffers.Pool(Buffers.IO_BUFFER_BYTES);
    private final Deque<Pending> window = new ArrayDeque<>();
    /** Ranges both images hold, not yet submitted. */
    private Batch batch;

    Walk(DiskFile first, DiskFile second, boolean strict, Progress progress, ExecutorService workers)
        throws IOException {
      this.first = first;
      this.second = second;
      this.strict = strict;
      this.progress = progress;
      this.workers = workers;
      this.size1 = first.size();
      this.size2 = second.size();
      this.total = Math.max(size1, size2);
    }

    CompareResult run() throws IOException {
      long common = Math.min(size1, size2);
      long offset = 0;
      while (offset < common) {
        Extent status1;
        Extent status2;
        try {
          status1 = status(first, 1, offset, size1 - offset);
          status2 = status(second, 2, offset, size2 - offset);
        } catch (CompareException e) {
          CompareResult earlier = settle();
          if (earlier != null) {
            return earlier;
          }
          throw e;
        }
        long chunk = Math.min(status1.length(), status2.length());
        if (strict && !sameStatus(status1, size1, status2, size2)) {
          CompareResult earlier = settle();
          return earlier != null ? earlier : new CompareResult(Outcome.STRICT_STATUS_MISMATCH, offset, false);
        }
        long start = offset;
        CompareResult decided;
        if (status1.zero() && status2.zero()) {
          offset += chunk;
          decided = skipped(offset);
        } else if (status1.present() == status2.present()) {
          if (status1.present()) {
            int length = (int) Math.min(chunk, Buffers.IO_BUFFER_BYTES);
            offset += length;
            decided = bothHold(start, length);
          } else {
            offset += chunk;
            decided = skipped(offset);
          }
        } else {
          int length = (int) Math.min(chunk, Buffers.IO_BUFFER_BYTES);
          boolean firstAllocated = status1.present();
          offset += length;
          decided = submit(() -> zeros(firstAllocated ? first : second, firstAllocated ? 1 : 2, start, length, false),
              offset);
        }
        if (decided != null) {
          return decided;
        }
      }
      CompareResult flushed = flush();
      if (flushed != null) {
        return flushed;
      }
      if (size1 == size2) {
        CompareResult earlier = drain();
        return earlier != null ? earlier : new CompareResult(Outcome.IDENTICAL, -1, false);
      }
      DiskFile larger = size1 > size2 ? first : second;
      int largerImage = size1 > size2 ? 1 : 2;
      while (offset < total) {
        Extent status;
        try {
          status = status(larger, largerImage, offset, total - offset);
        } catch (CompareException e) {
          CompareResult earlier = drain();
          if (earlier != null) {
            return earlier;
          }
          throw e;
        }
        long start = offset;
        CompareResult decided;
        if (status.present() && !status.zero()) {
          int length = (int) Math.min(status.length(), Buffers.IO_BUFFER_BYTES);
          offset += length;
          decided = submit(() -> zeros(larger, largerImage, start, length, true), offset);
        } else {
          offset += status.length();
          decided = skipped(offset);
        }
        if (decided != null) {
          return decided;
        }
      }
      CompareResult earlier = drain();
      return earlier != null ? earlier : new CompareResult(Outcome.IDENTICAL, -1, true);
    }

    /** A range both images hold: joins the batch, which is submitted when full or when the next range is not adjacent. */
    private CompareResult bothHold(long start, int length) throws IOException {
      if (batch != null && (batch.end != start || batch.bytes() + length > BATCH_BYTES)) {
        CompareResult decided = flush();
        if (decided != null) {
          return decided;
        }
      }
      if (batch == null) {
        batch = new Batch(start);
      }
      batch.add(start + length);
      return batch.bytes() >= BATCH_BYTES ? flush() : null;
    }

    /** Submits the batch, if any. */
    private CompareResult flush() throws IOException {
      if (batch == null) {
        return null;
      }
      Batch full = batch;
      batch = null;
      // the task gets its own copy: ranges with nothing to read may be added to the window's
      long[] rangeEnds = full.ends.toArray();
      return submit(() -> sameContent(full.start, rangeEnds), full.ends);
    }

    /** A range with nothing to read, up to {@code end}: reported in order after the tasks before it. */
    private CompareResult skipped(long end) throws IOException {
      CompareResult decided = flush();
      if (decided != null) {
        return decided;
      }
      if (window.isEmpty()) {
        progress.update(end, total);
      } else {
        window.peekLast().ends().add(end);
      }
      return null;
    }

    /** Submits the batch and takes every verdict in flight in order: the first that decides the comparison, or null. */
    private CompareResult settle() throws IOException {
      CompareResult decided = flush();
      return decided != null ? decided : drain();
    }

    /** Queues a range's check after the batch before it (whose verdict comes first in guest order). */
    private CompareResult submit(Callable<CompareResult> check, long end) throws IOException {
      CompareResult earlier = flush();
      if (earlier != null) {
        return earlier;
      }
      Ends ends = new Ends();
      ends.add(end);
      return submit(check, ends);
    }

    /** Queues a task; returns a result when a verdict taken from the full window decided the comparison. */
    private CompareResult submit(Callable<CompareResult> check, Ends ends) throws IOException {
      if (window.size() >= IN_FLIGHT) {
        CompareResult decided = takeOne();
        if (decided != null) {
          return decided;
        }
      }
      window.add(new Pending(workers.submit(check), ends));
      return null;
    }

    /** Takes every verdict in flight in order; the first that decides the comparison, or null. */
    private CompareResult drain() throws IOException {
      while (!window.isEmpty()) {
        CompareResult decided = takeOne();
        if (decided != null) {
          return decided;
        }
      }
      return null;
    }

    private CompareResult takeOne() throws IOException {
      Pending pending = window.removeFirst();
      CompareResult verdict = pending.verdict() == null ? null : await(pending.verdict());
      if (verdict != null) {
        return verdict;
      }
      Ends ends = pending.ends();
      for (int index = 0; index < ends.count(); index++) {
        progress.update(ends.get(index), total);
      }
      return null;
    }

    private static CompareResult await(Future<CompareResult> future) throws IOException {
      boolean interrupted = false;
      try {
        while (true) {
          try {
            return future.get();
          } catch (InterruptedException e) {
            interrupted = true;
          }
        }
      } catch (ExecutionException e) {
        TaskFailures.rethrow(e.getCause());
        throw new InterruptedIOException(String.valueOf(e));
      } finally {
        if (interrupted) {
          Thread.currentThread().interrupt();
        }
      }
    }

    /**
     * The batch's ranges in order: from one mapping of each image over the whole batch when both
     * keep it so, else range by range. Either way the first range that differs gives the result,
     * at its first different sector, and a mapped file that shrank is a read error of the range
     * being tested, as range by range.
     */
    private CompareResult sameContent(long start, long[] ends) throws CompareException {
      if (ends.length > 1) {
        try (Arena arena = Arena.ofConfined()) {
          int length = (int) (ends[ends.length - 1] - start);
          MemorySegment data1 = mapped(first, 1, start, length, arena);
          MemorySegment data2 = data1 == null ? null : mapped(second, 2, start, length, arena);
          if (data2 != null) {
            MappedByteBuffer view1 = Buffers.Mapped.directView(data1);
            MappedByteBuffer view2 = Buffers.Mapped.directView(data2);
            long rangeStart = start;
            for (long rangeEnd : ends) {
              int from = (int) (rangeStart - start);
              int rangeLength = (int) (rangeEnd - rangeStart);
              int difference;
              try {
                difference = Buffers.Mapped.mismatch(view1, view2, from, rangeLength);
              } catch (InternalError e) {
                throw new CompareException(Stage.READ, 1, rangeStart, new IOException("the mapped file shrank", e));
              }
              if (difference >= 0) {
                return new CompareResult(Outcome.CONTENT_MISMATCH, rangeStart + alignDown(difference), false);
              }
              rangeStart = rangeEnd;
            }
            return null;
          }
        }
      }
      long rangeStart = start;
      for (long rangeEnd : ends) {
        CompareResult result = sameContent(rangeStart, (int) (rangeEnd - rangeStart));
        if (result != null) {
          return result;
        }
        rangeStart = rangeEnd;
      }
      return null;
    }

    private CompareResult sameContent(long offset, int length) throws CompareException {
      ByteBuffer buffer1 = null;
      ByteBuffer buffer2 = null;
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment data1 = mapped(first, 1, offset, length, arena);
        if (data1 == null) {
          buffer1 = buffers.take();
          data1 = read(first, 1, buffer1, offset, length);
        }
        MemorySegment data2 = mapped(second, 2, offset, length, arena);
        if (data2 == null) {
          buffer2 = buffers.take();
          data2 = read(second, 2, buffer2, offset, length);
        }
        boolean mapped = buffer1 == null || buffer2 == null;
        int difference = firstDifferentSector(data1, buffer1 == null ? 1 : 2, data2, mapped, offset, length);
        return difference >= 0 ? new CompareResult(Outcome.CONTENT_MISMATCH, offset + difference, false) : null;
      } finally {
        buffers.give(buffer1);
        buffers.give(buffer2);
      }
    }

    private CompareResult zeros(DiskFile disk, int image, long offset, int length, boolean sizeMismatch)
        throws CompareException {
      ByteBuffer buffer = null;
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment data = mapped(disk, image, offset, length, arena);
        if (data == null) {
          buffer = buffers.take();
          data = read(disk, image, buffer, offset, length);
        }
        int index = firstNonZeroSector(data, buffer == null, image, offset, length);
        return index >= 0 ? new CompareResult(Outcome.CONTENT_MISMATCH, offset + index, sizeMismatch) : null;
      } finally {
        buffers.give(buffer);
      }
    }
  }

  private static int alignDown(int index) {
    return index / Buffers.SECTOR * Buffers.SECTOR;
  }

  /**
   * The range mapped from the image's host file when it keeps it byte for byte (a raw file): no
   * copy into a buffer. Null when it does not.
   */
  private static MemorySegment mapped(DiskFile disk, int image, long offset, int length, Arena arena)
      throws CompareException {
    try {
      return disk.mapped(offset, length, arena).orElse(null);
    } catch (IOException e) {
      throw new CompareException(Stage.READ, image, offset, e);
    }
  }

  /**
   * {@link Buffers#firstDifferentSector(MemorySegment, MemorySegment, int, boolean)}; a mapped file that
   * shrank meanwhile faults, which is a failed read of image {@code mappedImage}.
   */
  private static int firstDifferentSector(MemorySegment data1, int mappedImage, MemorySegment data2, boolean mapped,
      long offset, int length) throws CompareException {
    try {
      return Buffers.firstDifferentSector(data1, data2, length, mapped);
    } catch (InternalError e) {
      throw new CompareException(Stage.READ, mappedImage, offset, new IOException("the mapped file shrank", e));
    }
  }

  private static int firstNonZeroSector(MemorySegment data, boolean mapped, int image, long offset, int length)
      throws CompareException {
    try {
      return Buffers.firstNonZeroSector(data, length, mapped);
    } catch (InternalError e) {
      throw new CompareException(Stage.READ, image, offset, new IOException("the mapped file shrank", e));
    }
  }

  /**
   * qemu compares the whole status word: allocated, zero, data, offset valid, and whether the
   * range reaches the end of its image (BDRV_BLOCK_EOF).
   */
  private static boolean sameStatus(Extent a, long sizeA, Extent b, long sizeB) {
    return a.present() == b.present() && a.zero() == b.zero() && a.data() == b.data()
        && (a.hostOffset() >= 0 && !a.compressed()) == (b.hostOffset() >= 0 && !b.compressed())
        && (a.end() == sizeA) == (b.end() == sizeB);
  }

  private static Extent status(DiskFile disk, int image, long offset, long maxLength) throws CompareException {
    try {
      Extent extent = disk.blockStatus(offset, maxLength);
      if (extent.length() <= 0) {
        throw new IOException("empty block status range");
      }
      return extent;
    } catch (IOException e) {
      throw new CompareException(Stage.BLOCK_STATUS, image, offset, e);
    }
  }

  /** Reads the range into {@code buffer}: the segment of its first {@code length} bytes. */
  private static MemorySegment read(DiskFile disk, int image, ByteBuffer buffer, long offset, int length)
      throws CompareException {
    try {
      ByteBuffer window = buffer.slice(0, length);
      disk.readFully(window, offset);
      return MemorySegment.ofBuffer(window.clear());
    } catch (IOException e) {
      throw new CompareException(Stage.READ, image, offset, e);
    }
  }
}
