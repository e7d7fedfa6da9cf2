package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.storage.FileStorage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

/**
 * qemu-img convert. {@link #toImage} copies into an image (qcow2, compressed or not, over a backing
 * file or not); {@link #toRaw} to a raw file: the sources' guest content, one after the other, into a new
 * sparse file as long as their total size. Ranges whose block status reads as zeros are never
 * read and stay holes; inside data, runs of zero sectors at least {@code sparseBytes} long are not
 * written either (qemu-img's -S, default 4 KiB); with {@code sparseBytes} 0 every byte is written
 * and the file is fully allocated.
 */
public final class ImageConvert {
  /** qemu-img's default -S: 4 KiB. */
  public static final long DEFAULT_SPARSE_BYTES = 4096;
  /** qemu-img's largest -S: 16 MiB. */
  public static final long MAX_SPARSE_BYTES = 16L << 20;

  private ImageConvert() {}

  /** Progress reports: bytes of guest content handled so far, and the total. */
  @FunctionalInterface
  public interface Progress {
    void update(long doneBytes, long totalBytes);

    Progress NONE = (done, total) -> {};
  }

  /**
   * How {@link #toImage} writes: {@code compress} each cluster (qcow2 targets; zlib or zstd as the
   * image says), with {@code workers} threads reading and compressing in parallel,
   * {@code outOfOrderWrites} letting them write as they finish (ignored with compression, whose
   * output stays in cluster order), {@code detectZeroes} leaving all-zero clusters out (qemu-img's
   * -S other than 0), and {@code targetIsNew} when the target reads as zeros or as its backing file,
   * so that only what differs is written (else every zero range is written as zeros, qemu-img's -n).
   */
  public record Options(boolean compress, int workers, boolean outOfOrderWrites, boolean detectZeroes,
      boolean targetIsNew) {
    public Options {
      if (workers < 1) {
        throw new IllegalArgumentException("workers must be at least 1: " + workers);
      }
    }

    /** qemu-img convert's defaults for a new image: 8 workers, in-order writes, zeros left out, no compression. */
    public static Options defaults() {
      return new Options(false, 8, false, true, true);
    }

    public Options withCompress(boolean value) {
      return new Options(value, workers, outOfOrderWrites, detectZeroes, targetIsNew);
    }

    public Options withWorkers(int value) {
      return new Options(compress, value, outOfOrderWrites, detectZeroes, targetIsNew);
    }

    public Options withOutOfOrderWrites(boolean value) {
      return new Options(compress, workers, value, detectZeroes, targetIsNew);
    }

    public Options withDetectZeroes(boolean value) {
      return new Options(compress, workers, outOfOrderWrites, value, targetIsNew);
    }

    public Options withTargetIsNew(boolean value) {
      return new Options(compress, workers, outOfOrderWrites, detectZeroes, value);
    }
  }

  /**
   * Writes the concatenated content of {@code sources} into {@code target}, an open image at least
   * as large (typically a qcow2 image just created, possibly over a backing file): all-zero and
   * unallocated source ranges stay unallocated, ranges equal to the target's backing file are not
   * written, and with compression the output is the same bytes on every run. Flushes the target.
   */
  public static void toImage(List<DiskFile> sources, DiskFile target, Options options, Progress progress)
      throws IOException {
    new ImageCopier(sources, target, options).copy(progress);
  }

  /** Writes the concatenated content of {@code sources} to a new raw file at {@code target}, replacing it. */
  public static void toRaw(List<DiskFile> sources, Path target, long sparseBytes, Progress progress)
      throws IOException {
    if (sparseBytes < 0 || sparseBytes % Buffers.SECTOR != 0 || sparseBytes > MAX_SPARSE_BYTES) {
      throw new IllegalArgumentException("sparse size must be a multiple of 512 up to 16 MiB: " + sparseBytes);
    }
    long total = 0;
    for (DiskFile source : sources) {
      total += source.size();
    }
    // emptied under the locks of a creation (a file another process uses is refused, not
    // truncated), then grown with ftruncate: all a hole
    try (FileStorage out = FileStorage.create(target, true)) {
      out.truncate(total);
      new Copier(out, (int) (sparseBytes / Buffers.SECTOR), total, progress).copyAll(sources);
      out.force(false);
    }
  }

  /** One conversion's state: the target, the sparse threshold in sectors and the progress so far. */
  private static final class Copier {
    /** Alignment (in sectors) that zero runs are cut to, as qemu-img does for a raw target: 4 KiB. */
    private static final int ALIGNMENT_SECTORS = 8;

    private final FileStorage out;
    private final int minSparseSectors;
    private final long total;
    private final Progress progress;
    private final byte[] buffer = new byte[Buffers.IO_BUFFER_BYTES];
    /** How many bytes of {@link #buffer} hold the current chunk. */
    private int filled;
    private long done;

    Copier(FileStorage out, int minSparseSectors, long total, Progress progress) {
      this.out = out;
      this.minSparseSectors = minSparseSectors;
      this.total = total;
      this.progress = progress;
    }

    void copyAll(List<DiskFile> sources) throws IOException {
      long targetBase = 0;
      for (DiskFile source : sources) {
        copy(source, targetBase);
        targetBase += source.size();
      }
    }

    private void copy(DiskFile source, long targetBase) throws IOException {
      long size = source.size();
      long position = 0;
      while (position < size) {
        Extent extent = source.blockStatus(position, size - position);
        if (extent.length() <= 0) {
          throw new IOException(source.files() + ": block status at offset " + position + " returned an empty range");
        }
        long end = position + extent.length();
        if (extent.zero()) {
          if (minSparseSectors == 0) {
            out.zeroRange(targetBase + position, extent.length());
          }
        } else {
          for (long chunkStart = position; chunkStart < end; chunkStart += buffer.length) {
            int chunk = (int) Math.min(buffer.length, end - chunkStart);
            source.readFully(ByteBuffer.wrap(buffer, 0, chunk), chunkStart);
            writeData(targetBase + chunkStart, chunk);
          }
        }
        position = end;
        done += extent.length();
        progress.update(done, total);
      }
    }

    /** Writes the buffer's first {@code length} bytes at {@code targetOffset}, leaving zero runs as holes. */
    private void writeData(long targetOffset, int length) throws IOException {
      if (minSparseSectors == 0) {
        out.write(ByteBuffer.wrap(buffer, 0, length), targetOffset);
        return;
      }
      filled = length;
      int sectors = (length + Buffers.SECTOR - 1) / Buffers.SECTOR;
      int sector = 0;
      while (sector < sectors) {
        long run = allocatedRunMin(sector, sectors - sector, targetOffset / Buffers.SECTOR + sector);
        int runSectors = (int) (run >>> 1);
        if ((run & 1) != 0) {
          int from = sector * Buffers.SECTOR;
          int to = Math.min(length, (sector + runSectors) * Buffers.SECTOR);
          out.write(ByteBuffer.wrap(buffer, from, to - from), targetOffset + from);
        }
        sector += runSectors;
      }
    }

    /**
     * qemu-img's is_allocated_sectors_min: the run of sectors from {@code first} that is written
     * (data, bridging zero runs shorter than the sparse threshold) or skipped (zeros), packed as
     * {@code count << 1 | written}.
     */
    private long allocatedRunMin(int first, int count, long sectorNumber) {
      int min = Math.min(minSparseSectors, count);
      long run = allocatedRun(first, count, sectorNumber);
      if ((run & 1) == 0) {
        return run;
      }
      int used = (int) (run >>> 1);
      int checked = used;
      while (checked < count) {
        long next = allocatedRun(first + checked, count - checked, sectorNumber + checked);
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
    private long allocatedRun(int first, int count, long sectorNumber) {
      boolean zero = sectorIsZero(first);
      int run = 1;
      while (run < count && sectorIsZero(first + run) == zero) {
        run++;
      }
      if (run < count) {
        int tail = (int) ((sectorNumber + run) & (ALIGNMENT_SECTORS - 1));
        if (tail != 0) {
          if (zero && run <= tail) {
            zero = false;
          }
          if (!zero) {
            run = Math.min(run + ALIGNMENT_SECTORS - tail, count);
          } else {
            run -= tail;
          }
        }
      }
      return (long) run << 1 | (zero ? 0 : 1);
    }

    private boolean sectorIsZero(int sector) {
      int from = sector * Buffers.SECTOR;
      return Buffers.isZero(buffer, from, Math.min(Buffers.SECTOR, filled - from));
    }
  }
}
