package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.ops.CompareException.Stage;
import io.qcow4j.ops.CompareResult.Outcome;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Compares the guest content of two images the way qemu-img compare does: ranges that read as
 * zeros in both are skipped, ranges allocated in only one must read as zeros there, and when the
 * sizes differ the larger image's tail must read as zeros (unless strict, where a size mismatch
 * is a difference). Mismatch offsets are sector-granular like qemu-img's.
 */
public final class ImageCompare {
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
    long common = Math.min(size1, size2);
    long total = Math.max(size1, size2);
    if (strict && size1 != size2) {
      return new CompareResult(Outcome.STRICT_SIZE_MISMATCH, -1, false);
    }
    // direct buffers: a read into a heap array is copied again through the JDK's temporary buffer
    ByteBuffer buffer1 = ByteBuffer.allocateDirect(Buffers.IO_BUFFER_BYTES);
    ByteBuffer buffer2 = ByteBuffer.allocateDirect(Buffers.IO_BUFFER_BYTES);
    long offset = 0;
    while (offset < common) {
      Extent status1 = status(first, 1, offset, size1 - offset);
      Extent status2 = status(second, 2, offset, size2 - offset);
      long chunk = Math.min(status1.length(), status2.length());
      if (strict && !sameStatus(status1, size1, status2, size2)) {
        return new CompareResult(Outcome.STRICT_STATUS_MISMATCH, offset, false);
      }
      if (status1.zero() && status2.zero()) {
        // both read as zeros
      } else if (status1.present() == status2.present()) {
        if (status1.present()) {
          chunk = Math.min(chunk, Buffers.IO_BUFFER_BYTES);
          readBoth(first, buffer1, second, buffer2, offset, (int) chunk);
          int difference = Buffers.firstDifferentSector(buffer1, buffer2, (int) chunk);
          if (difference >= 0) {
            return new CompareResult(Outcome.CONTENT_MISMATCH, offset + difference, false);
          }
        }
      } else {
        chunk = Math.min(chunk, Buffers.IO_BUFFER_BYTES);
        boolean firstAllocated = status1.present();
        long nonZero = nonZeroSector(firstAllocated ? first : second, firstAllocated ? 1 : 2, buffer1, offset, (int) chunk);
        if (nonZero >= 0) {
          return new CompareResult(Outcome.CONTENT_MISMATCH, nonZero, false);
        }
      }
      offset += chunk;
      progress.update(offset, total);
    }
    if (size1 == size2) {
      return new CompareResult(Outcome.IDENTICAL, -1, false);
    }
    DiskFile larger = size1 > size2 ? first : second;
    int largerImage = size1 > size2 ? 1 : 2;
    while (offset < total) {
      Extent status = status(larger, largerImage, offset, total - offset);
      long chunk = status.length();
      if (status.present() && !status.zero()) {
        chunk = Math.min(chunk, Buffers.IO_BUFFER_BYTES);
        long nonZero = nonZeroSector(larger, largerImage, buffer1, offset, (int) chunk);
        if (nonZero >= 0) {
          return new CompareResult(Outcome.CONTENT_MISMATCH, nonZero, true);
        }
      }
      offset += chunk;
      progress.update(offset, total);
    }
    return new CompareResult(Outcome.IDENTICAL, -1, true);
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

  private static void read(DiskFile disk, int image, ByteBuffer buffer, long offset, int length) throws CompareException {
    try {
      disk.readFully(buffer.slice(0, length), offset);
    } catch (IOException e) {
      throw new CompareException(Stage.READ, image, offset, e);
    }
  }

  /**
   * Reads the same range of both images at once, the second on a virtual thread: two reads from
   * the page cache are two memory copies that two cores make side by side. A failure of the first
   * image is reported before one of the second, as reading them in turn would.
   */
  private static void readBoth(DiskFile first, ByteBuffer buffer1, DiskFile second, ByteBuffer buffer2, long offset,
      int length) throws CompareException {
    CompareException[] secondFailure = new CompareException[1];
    Thread reader = Thread.ofVirtual().start(() -> {
      try {
        read(second, 2, buffer2, offset, length);
      } catch (CompareException e) {
        secondFailure[0] = e;
      }
    });
    CompareException firstFailure = null;
    try {
      read(first, 1, buffer1, offset, length);
    } catch (CompareException e) {
      firstFailure = e;
    }
    boolean interrupted = false;
    while (true) {
      try {
        reader.join();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    if (firstFailure != null) {
      throw firstFailure;
    }
    if (secondFailure[0] != null) {
      throw secondFailure[0];
    }
  }

  private static long nonZeroSector(DiskFile disk, int image, ByteBuffer buffer, long offset, int length)
      throws CompareException {
    read(disk, image, buffer, offset, length);
    int index = Buffers.firstNonZeroSector(buffer, 0, length);
    return index < 0 ? -1 : offset + index;
  }
}
