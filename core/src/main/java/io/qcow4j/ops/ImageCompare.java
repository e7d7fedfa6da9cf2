package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.ops.CompareException.Stage;
import io.qcow4j.ops.CompareResult.Outcome;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
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
 * <p>Block status is walked on the calling thread; the ranges to read are read and checked by
 * {@link #IN_FLIGHT} tasks at once, each into pooled direct buffers (or, for an image that keeps the
 * range byte for byte in a local file, a raw one, from a read-only mapping of the file: no copy by
 * the kernel), and their verdicts taken in offset order, so the first difference (or failure)
 * reported is the one a walk in order finds.
 */
public final class ImageCompare {
  /** Ranges read and checked at once: the reads of one overlap the checks of another. */
  private static final int IN_FLIGHT = 4;

  private ImageCompare() {}

  /** Progress reports: the bytes of the larger image covered so far, and its size. */
  @FunctionalInterface
  public interface Progress {
    /** Reports that {@code doneBytes} of {@code totalBytes} are compared. */
    void update(long doneBytes, long totalBytes);

    /** Reports nothing. */
    Progress NONE = (done, total) -> {};
  }

  /** One range's verdict: the offset compared up to, and the result when the range decides it. */
  private record Verdict(long end, CompareResult result) {}

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

  /** One comparison: the walk's window of verdicts in flight and the buffers they read into. */
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
    private final Deque<Future<Verdict>> window = new ArrayDeque<>();

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
          CompareResult earlier = drain();
          if (earlier != null) {
            return earlier;
          }
          throw e;
        }
        long chunk = Math.min(status1.length(), status2.length());
        if (strict && !sameStatus(status1, size1, status2, size2)) {
          CompareResult earlier = drain();
          return earlier != null ? earlier : new CompareResult(Outcome.STRICT_STATUS_MISMATCH, offset, false);
        }
        long start = offset;
        if (status1.zero() && status2.zero()) {
          offset += chunk;
          CompareResult decided = submit(done(offset));
          if (decided != null) {
            return decided;
          }
          continue;
        }
        if (status1.present() == status2.present()) {
          if (status1.present()) {
            int length = (int) Math.min(chunk, Buffers.IO_BUFFER_BYTES);
            offset += length;
            CompareResult decided = submit(() -> sameContent(start, length));
            if (decided != null) {
              return decided;
            }
          } else {
            offset += chunk;
            CompareResult decided = submit(done(offset));
            if (decided != null) {
              return decided;
            }
          }
        } else {
          int length = (int) Math.min(chunk, Buffers.IO_BUFFER_BYTES);
          boolean firstAllocated = status1.present();
          offset += length;
          CompareResult decided = submit(() -> zeros(firstAllocated ? first : second, firstAllocated ? 1 : 2, start,
              length, false));
          if (decided != null) {
            return decided;
          }
        }
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
        if (status.present() && !status.zero()) {
          int length = (int) Math.min(status.length(), Buffers.IO_BUFFER_BYTES);
          offset += length;
          CompareResult decided = submit(() -> zeros(larger, largerImage, start, length, true));
          if (decided != null) {
            return decided;
          }
        } else {
          offset += status.length();
          CompareResult decided = submit(done(offset));
          if (decided != null) {
            return decided;
          }
        }
      }
      CompareResult earlier = drain();
      return earlier != null ? earlier : new CompareResult(Outcome.IDENTICAL, -1, true);
    }

    private static Callable<Verdict> done(long end) {
      return () -> new Verdict(end, null);
    }

    /** Queues a range's check; returns a result when a verdict taken from the full window decided the comparison. */
    private CompareResult submit(Callable<Verdict> check) throws IOException {
      if (window.size() >= IN_FLIGHT) {
        CompareResult decided = takeOne();
        if (decided != null) {
          return decided;
        }
      }
      window.add(workers.submit(check));
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
      Verdict verdict = await(window.removeFirst());
      if (verdict.result() != null) {
        return verdict.result();
      }
      progress.update(verdict.end(), total);
      return null;
    }

    private static Verdict await(Future<Verdict> future) throws IOException {
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
        Throwable cause = e.getCause();
        if (cause instanceof IOException io) {
          throw io;
        }
        if (cause instanceof RuntimeException runtime) {
          throw runtime;
        }
        if (cause instanceof Error error) {
          throw error;
        }
        throw new InterruptedIOException(String.valueOf(cause));
      } finally {
        if (interrupted) {
          Thread.currentThread().interrupt();
        }
      }
    }

    private Verdict sameContent(long offset, int length) throws CompareException {
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
        return new Verdict(offset + length,
            difference >= 0 ? new CompareResult(Outcome.CONTENT_MISMATCH, offset + difference, false) : null);
      } finally {
        buffers.give(buffer1);
        buffers.give(buffer2);
      }
    }

    private Verdict zeros(DiskFile disk, int image, long offset, int length, boolean sizeMismatch)
        throws CompareException {
      ByteBuffer buffer = null;
      try (Arena arena = Arena.ofConfined()) {
        MemorySegment data = mapped(disk, image, offset, length, arena);
        if (data == null) {
          buffer = buffers.take();
          data = read(disk, image, buffer, offset, length);
        }
        int index = firstNonZeroSector(data, buffer == null, image, offset, length);
        return new Verdict(offset + length,
            index >= 0 ? new CompareResult(Outcome.CONTENT_MISMATCH, offset + index, sizeMismatch) : null);
      } finally {
        buffers.give(buffer);
      }
    }
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
