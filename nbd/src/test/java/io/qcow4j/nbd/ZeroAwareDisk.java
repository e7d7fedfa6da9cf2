package io.qcow4j.nbd;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.RawDiskFile;
import io.qcow4j.storage.MemoryStorage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A raw disk in memory whose block status reports every all-zero block of {@link #BLOCK} bytes as
 * a hole, so that the server's sparse reads and block status can be checked against the content.
 * It also counts the forces it receives.
 */
final class ZeroAwareDisk implements DiskFile {
  static final int BLOCK = 4096;

  private final MemoryStorage storage;
  private final RawDiskFile raw;
  final AtomicInteger forces = new AtomicInteger();
  volatile boolean closed;

  ZeroAwareDisk(byte[] content, boolean readOnly) {
    storage = new MemoryStorage("memory", content, readOnly);
    raw = new RawDiskFile(storage, null);
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
    long end = Math.min(size, offset + maxLength);
    boolean zero = blockIsZero(offset);
    long position = offset;
    while (position < end && blockIsZero(position) == zero) {
      position = (position / BLOCK + 1) * BLOCK;
    }
    long length = Math.min(position, end) - offset;
    return new Extent(offset, length, 0, true, zero, !zero, false, zero ? -1 : offset, null);
  }

  private boolean blockIsZero(long position) {
    byte[] bytes = storage.toByteArray();
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
  public long size() throws IOException {
    return raw.size();
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.RAW;
  }

  @Override
  public boolean isReadOnly() {
    return raw.isReadOnly();
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    return raw.read(dst, position);
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    return raw.write(src, position);
  }

  @Override
  public void flush() throws IOException {
    raw.flush();
  }

  @Override
  public void force(boolean metadata) throws IOException {
    forces.incrementAndGet();
    raw.force(metadata);
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    raw.discard(offset, length);
  }

  @Override
  public void writeZeroes(long offset, long length) throws IOException {
    raw.writeZeroes(offset, length);
  }

  @Override
  public void allocate(long offset, long length) throws IOException {
    raw.allocate(offset, length);
  }

  @Override
  public void resize(long newSize) throws IOException {
    raw.resize(newSize);
  }

  @Override
  public ImageInfo info() throws IOException {
    return new ImageInfo(null, ImageFormat.RAW, size(), size(), null, null, null);
  }

  @Override
  public Optional<DiskFile> backing() {
    return Optional.empty();
  }

  @Override
  public List<Path> files() {
    return List.of();
  }

  @Override
  public void close() throws IOException {
    closed = true;
    raw.close();
  }
}
