package io.qcow4j.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/** Storage held in a byte array, for tests and fuzzing; at most 2 GiB. */
public final class MemoryStorage implements Storage {
  private final String name;
  private final boolean readOnly;
  private byte[] bytes;
  private int size;
  private boolean closed;

  /** Empty, writable storage named {@code name}. */
  public MemoryStorage(String name) {
    this(name, new byte[0], false);
  }

  /** Storage named {@code name} holding a copy of {@code content}, read-only if asked. */
  public MemoryStorage(String name, byte[] content, boolean readOnly) {
    this.name = name;
    this.bytes = content.clone();
    this.size = content.length;
    this.readOnly = readOnly;
  }

  /** A copy of the current content. */
  public synchronized byte[] toByteArray() {
    return Arrays.copyOf(bytes, size);
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public boolean isReadOnly() {
    return readOnly;
  }

  @Override
  public synchronized long size() throws IOException {
    ensureOpen();
    return size;
  }

  @Override
  public synchronized int read(ByteBuffer dst, long position) throws IOException {
    ensureOpen();
    if (position >= size) {
      return dst.hasRemaining() ? -1 : 0;
    }
    int count = (int) Math.min(dst.remaining(), size - position);
    dst.put(bytes, (int) position, count);
    return count;
  }

  @Override
  public synchronized void write(ByteBuffer src, long position) throws IOException {
    ensureWritable();
    int count = src.remaining();
    ensureCapacity(position + count);
    src.get(bytes, (int) position, count);
    size = (int) Math.max(size, position + count);
  }

  @Override
  public synchronized void truncate(long newSize) throws IOException {
    ensureWritable();
    ensureCapacity(newSize);
    if (newSize < size) {
      Arrays.fill(bytes, (int) newSize, size, (byte) 0);
    }
    size = (int) newSize;
  }

  @Override
  public void force(boolean metadata) throws IOException {
    ensureOpen();
  }

  @Override
  public synchronized void punchHole(long position, long length) throws IOException {
    ensureWritable();
    long end = Math.min(size, position + length);
    if (position < end) {
      Arrays.fill(bytes, (int) position, (int) end, (byte) 0);
    }
  }

  @Override
  public synchronized void zeroRange(long position, long length) throws IOException {
    ensureWritable();
    ensureCapacity(position + length);
    Arrays.fill(bytes, (int) position, (int) (position + length), (byte) 0);
    size = (int) Math.max(size, position + length);
  }

  @Override
  public synchronized void allocate(long position, long length) throws IOException {
    ensureWritable();
    ensureCapacity(position + length);
    size = (int) Math.max(size, position + length);
  }

  @Override
  public synchronized void close() {
    closed = true;
  }

  private void ensureOpen() throws IOException {
    if (closed) {
      throw new IOException(name + ": storage is closed");
    }
  }

  private void ensureWritable() throws IOException {
    ensureOpen();
    if (readOnly) {
      throw new IOException(name + ": storage is read-only");
    }
  }

  private void ensureCapacity(long needed) throws IOException {
    if (needed > Integer.MAX_VALUE - 8) {
      throw new IOException(name + ": memory storage cannot grow to " + needed + " bytes");
    }
    if (needed > bytes.length) {
      bytes = Arrays.copyOf(bytes, (int) Math.max(needed, Math.min(Integer.MAX_VALUE - 8, bytes.length * 2L)));
    }
  }
}
