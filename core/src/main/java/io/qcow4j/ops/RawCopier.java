package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.HostRange;
import io.qcow4j.internal.TaskFailures;
import io.qcow4j.internal.storage.FileStorage;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The copy of qemu-img convert to a raw file: block status walks the sources (zero extents cost
 * nothing, or one fallocate with -S 0), their data extents are cut into chunks of qemu-img's
 * IO_BUF_SIZE, and up to {@code workers} chunks are read and written at once, each through a
 * direct buffer of a bounded pool (no copy through the JDK's temporary buffers); inside a chunk,
 * zero runs at least {@code minSparseSectors} long stay holes, as qemu-img's
 * is_allocated_sectors_min decides. Raw writes go to disjoint ranges, so their order does not matter.
 */
final class RawCopier {
  private final FileStorage out;
  private final int minSparseSectors;
  /** The runs written and left out inside a chunk (none with -S 0). */
  private final SparseRuns sparseRuns;
  private final long total;
  private final ImageConvert.Progress progress;
  private final int workers;
  private final Buffers.Pool pool = new Buffers.Pool(Buffers.IO_BUFFER_BYTES);
  /** The sources' file holes, judged zeros unread. */
  private final HostHoles hostHoles = new HostHoles();
  /**
   * Taken by each write and kernel copy into the target: the workers still read and judge their
   * chunks at once, but write one at a time. A buffered write holds the file's inode lock, and a
   * second writer of the same file spins on it in the kernel while the first copies (an eighth of
   * a 4 GiB convert's CPU time, measured in bench/RESULTS.md); this lock parks it instead.
   */
  private final ReentrantLock writeLock = new ReentrantLock();
  /** Whether the kernel copies between the source files and the target (until a copy says it cannot). */
  private volatile boolean kernelCopies = true;
  /** The bytes qemu-img's convert counts for progress (data; zeros too with -S 0), and those started so far. */
  private long counted;
  private long started;
  /** The sources of the copy under way. */
  private List<DiskFile> sources = List.of();

  RawCopier(FileStorage out, int minSparseSectors, long total, ImageConvert.Progress progress, int workers) {
    this.out = out;
    this.minSparseSectors = minSparseSectors;
    // a raw target opened without O_DIRECT has a request alignment of one byte
    this.sparseRuns = minSparseSectors == 0 ? null : new SparseRuns(minSparseSectors, 1);
    this.total = total;
    this.progress = progress;
    this.workers = workers;
  }

  void copyAll(List<DiskFile> sources) throws IOException {
    this.sources = List.copyOf(sources);
    counted = progress == ImageConvert.Progress.NONE ? 0 : countedBytes(sources);
    ExecutorService threads = Executors.newFixedThreadPool(workers, runnable -> {
      Thread thread = new Thread(runnable, "qcow4j-convert");
      thread.setDaemon(true);
      return thread;
    });
    Semaphore inFlight = new Semaphore(workers);
    AtomicReference<Throwable> failure = new AtomicReference<>();
    try {
      long targetBase = 0;
      for (DiskFile source : sources) {
        copy(source, targetBase, threads, inFlight, failure);
        targetBase += source.size();
      }
      inFlight.acquireUninterruptibly(workers);
      TaskFailures.rethrow(failure.get());
    } finally {
      threads.shutdownNow();
    }
  }

  private void copy(DiskFile source, long targetBase, ExecutorService threads, Semaphore inFlight,
      AtomicReference<Throwable> failure) throws IOException {
    long size = source.size();
    long position = 0;
    while (position < size) {
      TaskFailures.rethrow(failure.get());
      Extent extent = source.blockStatus(position, size - position);
      if (extent.length() <= 0) {
        throw new IOException(source.files() + ": block status at offset " + position + " returned an empty range");
      }
      long end = position + extent.length();
      if (extent.zero()) {
        if (minSparseSectors == 0) {
          // qemu-img takes zeros, with -S 0, a buffer at a time
          // and writes each as data: the target allocates it (convert_co_do_copy makes it BLK_DATA)
          ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(Buffers.IO_BUFFER_BYTES, extent.length()));
          for (long piece = 0; piece < extent.length(); piece += Buffers.IO_BUFFER_BYTES) {
            int length = (int) Math.min(Buffers.IO_BUFFER_BYTES, extent.length() - piece);
            started(length);
            out.write(zeros.clear().limit(length), targetBase + position + piece);
          }
        }
      } else {
        for (long chunkStart = position; chunkStart < end; chunkStart += Buffers.IO_BUFFER_BYTES) {
          int chunk = (int) Math.min(Buffers.IO_BUFFER_BYTES, end - chunkStart);
          long sourceOffset = chunkStart;
          inFlight.acquireUninterruptibly();
          if (failure.get() != null) {
            inFlight.release();
            break;
          }
          started(chunk);
          threads.execute(() -> {
            ByteBuffer buffer = null;
            try {
              if (!copyMapped(source, sourceOffset, targetBase + sourceOffset, chunk)) {
                buffer = pool.take();
                buffer.limit(chunk);
                try {
                  source.readFully(buffer, sourceOffset);
                } catch (IOException e) {
                  throw new ConvertRequests(sources, -1, 0, Buffers.IO_BUFFER_BYTES)
                      .locateRead(targetBase + sourceOffset, chunk, e);
                }
                try {
                  writeData(buffer, targetBase + sourceOffset, chunk);
                } catch (IOException e) {
                  throw new ImageConvert.RequestFailedException(ImageConvert.RequestFailedException.Direction.WRITE,
                      targetBase + sourceOffset, e);
                }
              }
            } catch (Throwable e) {
              failure.compareAndSet(null, e);
            } finally {
              pool.give(buffer);
              inFlight.release();
            }
          });
        }
      }
      position = end;
    }
  }

  /**
   * Counts a chunk as started when a worker is free to take it, as qemu-img counts a request when a
   * coroutine takes it: from the walking thread, in guest order, without a lock.
   */
  private void started(long bytes) {
    if (counted > 0) {
      started += bytes;
      progress.update(started, counted);
    }
  }

  /**
   * qemu-img's allocated_sectors, from a walk of block status before the copy: the data extents,
   * and with -S 0 the zero extents too.
   */
  private long countedBytes(List<DiskFile> sources) throws IOException {
    if (minSparseSectors == 0) {
      return total;
    }
    long sum = 0;
    for (DiskFile source : sources) {
      long size = source.size();
      long position = 0;
      while (position < size) {
        Extent extent = source.blockStatus(position, size - position);
        if (extent.length() <= 0) {
          throw new IOException(source.files() + ": block status at offset " + position + " returned an empty range");
        }
        if (!extent.zero()) {
          sum += extent.length();
        }
        position += extent.length();
      }
    }
    return sum;
  }

  /**
   * Copies a chunk that the source keeps byte for byte in a local file without a buffer of ours:
   * its zero runs judged on a read-only mapping of the file, its data runs copied by the kernel
   * from file to file (copy_file_range), or, where the kernel cannot copy between the two files,
   * written from the mapping: one copy of the bytes, where a read into a buffer and a write from it
   * make two. False when the source does not keep the chunk so (then it is read).
   */
  private boolean copyMapped(DiskFile source, long sourceOffset, long targetOffset, int length) throws IOException {
    Optional<HostRange> range = source.hostRange(sourceOffset, length);
    if (range.isEmpty() || !(range.get().storage() instanceof FileStorage file)) {
      return false;
    }
    long host = range.get().offset();
    try (Arena arena = Arena.ofConfined()) {
      Optional<MemorySegment> mapping = file.mapReadOnly(host, length, arena);
      if (mapping.isEmpty()) {
        return false;
      }
      MemorySegment data = mapping.get();
      ByteBuffer view = Buffers.Mapped.view(data);
      if (minSparseSectors == 0) {
        copyRun(file, host, view, 0, length, targetOffset);
        return true;
      }
      long[] holes = hostHoles.in(file, host, length);
      int sectors = (length + Buffers.SECTOR - 1) / Buffers.SECTOR;
      int sector = 0;
      while (sector < sectors) {
        long run = sparseRuns.runMin(data, view, holes, length, sector, sectors - sector,
            targetOffset / Buffers.SECTOR + sector);
        int runSectors = (int) (run >>> 1);
        if ((run & 1) != 0) {
          int from = sector * Buffers.SECTOR;
          int to = Math.min(length, (sector + runSectors) * Buffers.SECTOR);
          copyRun(file, host + from, view, from, to - from, targetOffset + from);
        }
        sector += runSectors;
      }
      return true;
    } catch (InternalError e) {
      throw new IOException(source.files() + ": the file shrank while read at offset " + sourceOffset, e);
    }
  }

  /** One data run of a mapped chunk: copied by the kernel, or written from the mapping. */
  private void copyRun(FileStorage file, long hostOffset, ByteBuffer mapped, int from, int length, long targetOffset)
      throws IOException {
    if (kernelCopies) {
      boolean copied;
      writeLock.lock();
      try {
        copied = out.copyFrom(file, hostOffset, targetOffset, length);
      } finally {
        writeLock.unlock();
      }
      if (copied) {
        return;
      }
      // another file system (or no copy_file_range): the kernel will not copy the next ones either
      kernelCopies = false;
    }
    writeFully(mapped, from, length, targetOffset);
  }

  /** Writes the buffer's first {@code length} bytes at {@code targetOffset}, leaving zero runs as holes. */
  private void writeData(ByteBuffer buffer, long targetOffset, int length) throws IOException {
    if (minSparseSectors == 0) {
      writeFully(buffer, 0, length, targetOffset);
      return;
    }
    int sectors = (length + Buffers.SECTOR - 1) / Buffers.SECTOR;
    int sector = 0;
    // one segment over the chunk: the sector tests below then make no object each
    MemorySegment data = MemorySegment.ofBuffer(buffer.slice(0, length));
    while (sector < sectors) {
      long run = sparseRuns.runMin(data, length, sector, sectors - sector, targetOffset / Buffers.SECTOR + sector);
      int runSectors = (int) (run >>> 1);
      if ((run & 1) != 0) {
        int from = sector * Buffers.SECTOR;
        int to = Math.min(length, (sector + runSectors) * Buffers.SECTOR);
        writeFully(buffer, from, to - from, targetOffset + from);
      }
      sector += runSectors;
    }
  }

  private void writeFully(ByteBuffer buffer, int from, int length, long targetOffset) throws IOException {
    ByteBuffer piece = buffer.slice(from, length);
    writeLock.lock();
    try {
      while (piece.hasRemaining()) {
        out.write(piece, targetOffset + piece.position());
      }
    } finally {
      writeLock.unlock();
    }
  }
}
