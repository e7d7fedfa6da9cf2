package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.internal.storage.FileStorage;
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

  /**
   * Progress reports. Convert counts as qemu-img convert does: {@code totalBytes} is what the
   * sources' block status gives to copy (data; zero ranges too when zeros are written, -S 0), and
   * a report comes as each chunk of it is handed to a worker, from the one thread that walks the
   * sources, in guest order; nothing is reported when there is nothing to copy. Commit and rebase
   * report from their one thread too.
   */
  @FunctionalInterface
  public interface Progress {
    /** Reports that {@code doneBytes} of {@code totalBytes} are handled or under way. */
    void update(long doneBytes, long totalBytes);

    /** Reports nothing. */
    Progress NONE = (done, total) -> {};
  }

  /**
   * A read of the sources or a write of the target failed during the copy: {@link #offset} is the
   * guest byte where qemu-img's failing request starts ("error while reading at byte N" / "error
   * while writing at byte N"), the cause the failure.
   */
  public static final class RequestFailedException extends IOException {
    private static final long serialVersionUID = 1L;

    /** Which side of the copy failed. */
    public enum Direction {
      /** Reading the sources. */
      READ,
      /** Writing the target. */
      WRITE
    }

    private final Direction direction;
    private final long offset;

    RequestFailedException(Direction direction, long offset, IOException cause) {
      super((direction == Direction.READ ? "error while reading at byte " : "error while writing at byte ") + offset
          + ": " + cause.getMessage(), cause);
      this.direction = direction;
      this.offset = offset;
    }

    /** Which side of the copy failed. */
    public Direction direction() {
      return direction;
    }

    /** The guest offset where the failing request starts. */
    public long offset() {
      return offset;
    }
  }

  /**
   * Where qemu-img convert --salvage reports the failures it goes past: {@code offset} is the byte
   * offset in the source that failed (one sector each).
   */
  public interface Salvage {
    /** A block status query of the sector at {@code offset} failed: the sector is read as data. */
    void blockStatusFailed(long offset, IOException cause);

    /** A read of the sector at {@code offset} failed: the sector is copied as zeros. */
    void readFailed(long offset, IOException cause);
  }

  /**
   * How {@link #toImage} writes: {@code compress} each cluster (qcow2 targets; zlib or zstd as the
   * image says), with {@code workers} threads reading and compressing in parallel,
   * {@code outOfOrderWrites} letting them write as they finish (ignored with compression, whose
   * output stays in cluster order), {@code sparseBytes} the zero runs inside data that are left out
   * (qemu-img's -S: runs of zero sectors at least that long, their ends aligned as qemu-img aligns
   * them; 0 writes every byte), {@code targetIsNew} when the target reads as zeros or as its
   * backing file, so that only what differs is written (else every zero range is written as zeros,
   * qemu-img's -n), and {@code salvage} (null: none) taking read and block status failures of the
   * sources as qemu-img's --salvage does: reported to it, the ranges copied as zeros or as data.
   */
  public record Options(boolean compress, int workers, boolean outOfOrderWrites, long sparseBytes,
      boolean targetIsNew, Salvage salvage) {
    /** Checks that there is at least one worker and that the sparse size is whole sectors up to 16 MiB. */
    public Options {
      if (workers < 1) {
        throw new IllegalArgumentException("workers must be at least 1: " + workers);
      }
      if (sparseBytes < 0 || sparseBytes % Buffers.SECTOR != 0 || sparseBytes > MAX_SPARSE_BYTES) {
        throw new IllegalArgumentException("sparse size must be a multiple of 512 up to 16 MiB: " + sparseBytes);
      }
    }

    /** qemu-img convert's defaults for a new image: 8 workers, in-order writes, -S 4k, no compression. */
    public static Options defaults() {
      return new Options(false, 8, false, DEFAULT_SPARSE_BYTES, true, null);
    }

    /** Whether zeros are left out at all (a sparse size other than 0). */
    public boolean detectZeroes() {
      return sparseBytes != 0;
    }

    /** These options with compression on or off. */
    public Options withCompress(boolean value) {
      return new Options(value, workers, outOfOrderWrites, sparseBytes, targetIsNew, salvage);
    }

    /** These options with {@code value} worker threads. */
    public Options withWorkers(int value) {
      return new Options(compress, value, outOfOrderWrites, sparseBytes, targetIsNew, salvage);
    }

    /** These options with out-of-order writes allowed or not (qemu-img's -W). */
    public Options withOutOfOrderWrites(boolean value) {
      return new Options(compress, workers, value, sparseBytes, targetIsNew, salvage);
    }

    /** These options with zeros left out (qemu-img's default -S 4k) or every byte written (-S 0). */
    public Options withDetectZeroes(boolean value) {
      return withSparseBytes(value ? DEFAULT_SPARSE_BYTES : 0);
    }

    /** These options with qemu-img's -S {@code value} (bytes, whole sectors; 0 writes every byte). */
    public Options withSparseBytes(long value) {
      return new Options(compress, workers, outOfOrderWrites, value, targetIsNew, salvage);
    }

    /** These options with the sources' failures salvaged ({@code value} non-null) or not. */
    public Options withSalvage(Salvage value) {
      return new Options(compress, workers, outOfOrderWrites, sparseBytes, targetIsNew, value);
    }

    /** These options with the target taken as new (reading as zeros or its backing file) or not. */
    public Options withTargetIsNew(boolean value) {
      return new Options(compress, workers, outOfOrderWrites, sparseBytes, value, salvage);
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
    if (options.salvage() != null) {
      int clusterBytes = target instanceof io.qcow4j.qcow2.QcowFile qcow2 ? qcow2.clusterSize() : 0;
      new SalvageCopier(sources, target, options, clusterBytes).copy(progress);
      return;
    }
    new ImageCopier(sources, target, options).copy(progress);
  }

  /** Writes the concatenated content of {@code sources} to a new raw file at {@code target}, replacing it. */
  public static void toRaw(List<DiskFile> sources, Path target, long sparseBytes, Progress progress)
      throws IOException {
    toRaw(sources, target, sparseBytes, Options.defaults().workers(), true, progress);
  }

  /**
   * {@link #toRaw(List, Path, long, Progress)} with {@code workers} requests in flight (qemu-img's -m),
   * the file flushed to stable storage at the end or not ({@code flushes}).
   */
  static void toRaw(List<DiskFile> sources, Path target, long sparseBytes, int workers, boolean flushes,
      Progress progress) throws IOException {
    toRaw(sources, target, sparseBytes, workers, flushes, null, progress);
  }

  /** {@link #toRaw(List, Path, long, int, boolean, Progress)}, the sources' failures salvaged when {@code salvage} is not null. */
  static void toRaw(List<DiskFile> sources, Path target, long sparseBytes, int workers, boolean flushes,
      Salvage salvage, Progress progress) throws IOException {
    if (sparseBytes < 0 || sparseBytes % Buffers.SECTOR != 0 || sparseBytes > MAX_SPARSE_BYTES) {
      throw new IllegalArgumentException("sparse size must be a multiple of 512 up to 16 MiB: " + sparseBytes);
    }
    if (workers < 1) {
      throw new IllegalArgumentException("workers must be at least 1: " + workers);
    }
    long total = 0;
    for (DiskFile source : sources) {
      total += source.size();
    }
    // emptied under the locks of a creation (a file another process uses is refused, not
    // truncated), then grown with ftruncate: a hole but for the first block, which QEMU's file
    // protocol writes when it grows an empty file (allocate_first_block), so it maps as data
    try (FileStorage out = FileStorage.create(target, true)) {
      out.truncate(total);
      if (total > 0) {
        out.write(ByteBuffer.allocate((int) Math.min(total, total < 4096 ? 512 : 4096)), 0);
      }
      if (salvage != null) {
        Options options = Options.defaults().withDetectZeroes(sparseBytes != 0).withSalvage(salvage);
        DiskFile disk = new io.qcow4j.disk.RawDiskFile(out, target); // not closed: out is, below
        new SalvageCopier(sources, disk, options, 0).copy(progress);
      } else {
        new RawCopier(out, (int) (sparseBytes / Buffers.SECTOR), total, progress, workers).copyAll(sources);
      }
      if (flushes) {
        out.force(false);
      }
    }
  }
}
