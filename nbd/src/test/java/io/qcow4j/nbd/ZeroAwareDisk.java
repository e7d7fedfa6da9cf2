package io.qcow4j.nbd;

import io.qcow4j.disk.Extent;
import io.qcow4j.disk.RawDiskFile;
import io.qcow4j.storage.MemoryStorage;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A raw disk in memory whose block status reports every all-zero block of {@link #BLOCK} bytes as
 * a hole, so that the server's sparse reads and block status can be checked against the content.
 * It also counts the forces it receives and remembers being closed.
 */
class ZeroAwareDisk extends ForwardingDisk {
  static final int BLOCK = 4096;

  private final MemoryStorage storage;
  final AtomicInteger forces = new AtomicInteger();
  volatile boolean closed;

  ZeroAwareDisk(byte[] content, boolean readOnly) throws IOException {
    this(new MemoryStorage("memory", content, readOnly));
  }

  private ZeroAwareDisk(MemoryStorage storage) throws IOException {
    super(new RawDiskFile(storage, null));
    this.storage = storage;
  }

  byte[] content() {
    return storage.toByteArray();
  }

  @Override
  public Extent blockStatus(long offset, long maxLength) throws IOException {
    long size = size();
    if (offset < 0 || offset >= size || maxLength <= 0) {
      throw new IllegalArgumentException("block status at " + offset);
    }
    byte[] bytes = storage.toByteArray();
    long end = Math.min(size, offset + maxLength);
    boolean zero = blockIsZero(bytes, offset);
    long position = offset;
    while (position < end && blockIsZero(bytes, position) == zero) {
      position = (position / BLOCK + 1) * BLOCK;
    }
    long length = Math.min(position, end) - offset;
    return new Extent(offset, length, 0, true, zero, !zero, false, zero ? -1 : offset, null);
  }

  private static boolean blockIsZero(byte[] bytes, long position) {
    int start = (int) (position / BLOCK * BLOCK);
    int end = Math.min(bytes.length, start + BLOCK);
    for (int i = start; i < end; i++) {
      if (bytes[i] != 0) {
        return false;
      }
    }
    return true;
  }

  @Override
  public void force(boolean metadata) throws IOException {
    forces.incrementAndGet();
    super.force(metadata);
  }

  @Override
  public void close() throws IOException {
    closed = true;
    super.close();
  }
}
