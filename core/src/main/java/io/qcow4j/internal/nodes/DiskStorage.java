package io.qcow4j.internal.nodes;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A disk (a format or filter node) as the storage of the node above it, as QEMU stacks a format
 * under blkdebug or under another format: guest bytes become that node's bytes, discards and
 * zeroing go to the disk's, its allocation answers SEEK_DATA and SEEK_HOLE.
 */
final class DiskStorage implements Storage {
  private final DiskFile disk;

  /** {@code disk} as storage, closed with it. */
  DiskStorage(DiskFile disk) {
    this.disk = disk;
  }

  @Override
  public io.qcow4j.storage.DebugBreakpoints debugBreakpoints() {
    return disk.debugBreakpoints();
  }

  @Override
  public String name() {
    return disk.files().isEmpty() ? disk.driverName() : disk.files().getFirst().toString();
  }

  @Override
  public boolean isReadOnly() {
    return disk.isReadOnly();
  }

  @Override
  public long size() throws IOException {
    return disk.size();
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    return disk.read(dst, position);
  }

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    long end = position + src.remaining();
    if (end > disk.size()) {
      disk.resize(end);
    }
    disk.writeFully(src, position);
  }

  @Override
  public void truncate(long newSize) throws IOException {
    disk.resize(newSize);
  }

  @Override
  public void force(boolean metadata) throws IOException {
    disk.force(metadata);
  }

  @Override
  public void punchHole(long position, long length) throws IOException {
    disk.discard(position, length);
  }

  @Override
  public void zeroRange(long position, long length) throws IOException {
    disk.writeZeroes(position, length);
  }

  @Override
  public void allocate(long position, long length) throws IOException {
    disk.allocate(position, length);
  }

  @Override
  public long nextData(long position) throws IOException {
    long size = disk.size();
    for (long cursor = position; cursor < size; ) {
      Extent extent = disk.blockStatus(cursor, size - cursor);
      if (extent.length() <= 0) {
        break;
      }
      if (extent.data()) {
        return cursor;
      }
      cursor += extent.length();
    }
    return Long.MAX_VALUE;
  }

  @Override
  public long nextHole(long position) throws IOException {
    long size = disk.size();
    for (long cursor = position; cursor < size; ) {
      Extent extent = disk.blockStatus(cursor, size - cursor);
      if (extent.length() <= 0 || !extent.data()) {
        return cursor;
      }
      cursor += extent.length();
    }
    return Math.max(position, size);
  }

  @Override
  public void close() throws IOException {
    disk.close();
  }
}
