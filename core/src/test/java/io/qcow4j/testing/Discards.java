package io.qcow4j.testing;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageInfo;
import java.io.IOException;

/** What a discard makes read as zeros, as QEMU's drivers do it: the expectation test models keep. */
public final class Discards {
  private Discards() {}

  /**
   * The range {start, end} that {@code disk.discard(offset, length)} makes read as zeros: all of it
   * on a raw disk; on qcow2 the whole clusters (and a partial last cluster of the disk from its
   * start), nothing on a version 2 image with a backing file or on raw LUKS. Empty (start == end) when nothing.
   */
  public static long[] zeroedRange(DiskFile disk, long offset, long length) throws IOException {
    ImageInfo info = disk.info();
    ImageInfo.Qcow2Info qcow2 = info.qcow2();
    long end = offset + length;
    if (info.format() == io.qcow4j.disk.ImageFormat.LUKS) {
      // QEMU's crypto driver has no discard: the bytes stay
      return new long[] {offset, offset};
    }
    if (qcow2 == null) {
      return new long[] {offset, end};
    }
    return zeroedRange(offset, length, disk.size(), qcow2.clusterSize(),
        qcow2.version() < 3 && info.backingFile() != null);
  }

  /**
   * As {@link #zeroedRange(DiskFile, long, long)} for a qcow2 disk of {@code size} bytes and
   * {@code clusterSize}; {@code keepsAll} for a version 2 image over a backing file.
   */
  public static long[] zeroedRange(long offset, long length, long size, long clusterSize, boolean keepsAll) {
    long end = offset + length;
    if (keepsAll) {
      return new long[] {offset, offset};
    }
    long start = (offset + clusterSize - 1) / clusterSize * clusterSize;
    long stop = end == size ? end : end / clusterSize * clusterSize;
    return stop > start ? new long[] {start, stop} : new long[] {offset, offset};
  }
}
