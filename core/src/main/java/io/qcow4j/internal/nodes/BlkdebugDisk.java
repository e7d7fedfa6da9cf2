package io.qcow4j.internal.nodes;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.internal.storagenodes.BlkdebugStorage;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * blkdebug at the top over a format node (driver=blkdebug, image.driver=qcow2): requests pass
 * through its rules ({@link BlkdebugStorage} over the disk) to the disk, while allocation, info and
 * the backing chain are the disk's, as QEMU's block layer looks through the filter.
 */
final class BlkdebugDisk extends ForwardingDiskFile {
  private final BlkdebugStorage rules;

  /** blkdebug with {@code rules} (a {@link BlkdebugStorage} over {@code below}'s {@link DiskStorage}). */
  BlkdebugDisk(DiskFile below, BlkdebugStorage rules) {
    super(below, "blkdebug");
    this.rules = rules;
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    long size = below.size();
    if (position >= size) {
      return dst.hasRemaining() ? -1 : 0;
    }
    int count = (int) Math.min(dst.remaining(), size - position);
    ByteBuffer window = dst.slice(dst.position(), count);
    rules.readFully(window, position);
    dst.position(dst.position() + count);
    return count;
  }

  @Override
  public long read(ByteBuffer[] dsts, long position) throws IOException {
    long total = 0;
    for (ByteBuffer dst : dsts) {
      int count = read(dst, position + total);
      if (count < 0) {
        return total == 0 ? -1 : total;
      }
      total += count;
    }
    return total;
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    int count = src.remaining();
    rules.write(src, position);
    return count;
  }

  @Override
  public long write(ByteBuffer[] srcs, long position) throws IOException {
    long total = 0;
    for (ByteBuffer src : srcs) {
      total += write(src, position + total);
    }
    return total;
  }

  @Override
  public io.qcow4j.storage.DebugBreakpoints debugBreakpoints() {
    return rules;
  }

  @Override
  public Extent blockStatus(long offset, long maxLength) throws IOException {
    rules.checkBlockStatus(offset, Math.max(0, Math.min(maxLength, below.size() - offset)));
    return below.blockStatus(offset, maxLength);
  }

  @Override
  public void force(boolean metadata) throws IOException {
    rules.force(metadata);
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    rules.punchHole(offset, length);
  }

  @Override
  public void writeZeroes(long offset, long length) throws IOException {
    rules.zeroRange(offset, length);
  }

  @Override
  public void close() throws IOException {
    rules.close();
  }
}
