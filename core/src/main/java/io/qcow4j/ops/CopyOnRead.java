package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageInfo;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Copy-on-read (qemu-io's -C), as QEMU's bdrv_co_do_copy_on_readv does it after a read: every
 * cluster the read touched that the image itself does not allocate is written into the image with
 * what it reads as (from the backing file, or zeros), zeros as a write of zeroes.
 */
public final class CopyOnRead {
  /** How much is copied at a time. */
  private static final int CHUNK = 1 << 20;
  /** The unit of a format without clusters (raw): QEMU's default request alignment for the copy. */
  private static final long DEFAULT_CLUSTER = 64 * 1024;

  private CopyOnRead() {}

  /** Copies the clusters of {@code [offset, offset + count)} that the image does not allocate itself. */
  public static void copy(DiskFile disk, long offset, long count) throws IOException {
    if (count <= 0) {
      return;
    }
    ImageInfo info = disk.info();
    long cluster = info.clusterSize() > 0 ? info.clusterSize() : DEFAULT_CLUSTER;
    long size = disk.size();
    long start = offset - offset % cluster;
    long end = Math.min(size, ((offset + count + cluster - 1) / cluster) * cluster);
    long position = start;
    while (position < end) {
      Extent extent = disk.blockStatus(position, end - position);
      long length = Math.min(extent.length(), end - position);
      if (length <= 0) {
        return;
      }
      if (extent.depth() != 0 || !extent.present()) {
        copyRange(disk, position, length);
      }
      position += length;
    }
  }

  private static void copyRange(DiskFile disk, long offset, long length) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate((int) Math.min(CHUNK, length));
    for (long done = 0; done < length; ) {
      int chunk = (int) Math.min(buffer.capacity(), length - done);
      buffer.clear().limit(chunk);
      disk.readFully(buffer, offset + done);
      if (isZero(buffer.array(), chunk)) {
        disk.writeZeroes(offset + done, chunk);
      } else {
        buffer.flip();
        disk.writeFully(buffer, offset + done);
      }
      done += chunk;
    }
  }

  private static boolean isZero(byte[] bytes, int length) {
    for (int i = 0; i < length; i++) {
      if (bytes[i] != 0) {
        return false;
      }
    }
    return true;
  }
}
