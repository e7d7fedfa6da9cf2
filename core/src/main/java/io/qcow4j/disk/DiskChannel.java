package io.qcow4j.disk;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SeekableByteChannel;

/** A {@link SeekableByteChannel} over a {@link DiskFile}, with a position of its own. */
public final class DiskChannel implements SeekableByteChannel {
  private final DiskFile disk;
  private long position;
  private boolean open = true;

  DiskChannel(DiskFile disk) {
    this.disk = disk;
  }

  @Override
  public synchronized int read(ByteBuffer dst) throws IOException {
    ensureOpen();
    int count = disk.read(dst, position);
    if (count > 0) {
      position += count;
    }
    return count;
  }

  @Override
  public synchronized int write(ByteBuffer src) throws IOException {
    ensureOpen();
    int count = disk.write(src, position);
    position += count;
    return count;
  }

  @Override
  public synchronized long position() throws IOException {
    ensureOpen();
    return position;
  }

  @Override
  public synchronized DiskChannel position(long newPosition) throws IOException {
    ensureOpen();
    if (newPosition < 0) {
      throw new IllegalArgumentException("Negative position: " + newPosition);
    }
    position = newPosition;
    return this;
  }

  @Override
  public long size() throws IOException {
    ensureOpen();
    return disk.size();
  }

  /** Disks have a fixed size here: truncation only moves the position back, as the contract allows. */
  @Override
  public synchronized DiskChannel truncate(long size) throws IOException {
    ensureOpen();
    if (size < 0) {
      throw new IllegalArgumentException("Negative size: " + size);
    }
    if (position > size) {
      position = size;
    }
    return this;
  }

  @Override
  public synchronized boolean isOpen() {
    return open;
  }

  @Override
  public synchronized void close() {
    open = false;
  }

  private void ensureOpen() throws ClosedChannelException {
    if (!open) {
      throw new ClosedChannelException();
    }
  }
}
