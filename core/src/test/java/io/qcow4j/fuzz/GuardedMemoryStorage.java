package io.qcow4j.fuzz;

import io.qcow4j.storage.MemoryStorage;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * An in-memory image for fuzzing that behaves like a host file where the engine misuses it: a
 * negative position or length fails as {@code FileChannel} does (IllegalArgumentException, a
 * finding), and growth past a cap is refused with an IOException so that a hostile entry cannot
 * make the fuzzer's heap the thing that breaks.
 */
final class GuardedMemoryStorage implements Storage {
  /** Far above what the seed images grow to when written; far below the test JVM's heap. */
  static final long GROWTH_CAP_BYTES = 64L << 20;

  private final MemoryStorage delegate;

  GuardedMemoryStorage(String name, byte[] content, boolean readOnly) {
    this.delegate = new MemoryStorage(name, content, readOnly);
  }

  /** A copy of the current content. */
  byte[] toByteArray() {
    return delegate.toByteArray();
  }

  @Override
  public String name() {
    return delegate.name();
  }

  @Override
  public boolean isReadOnly() {
    return delegate.isReadOnly();
  }

  @Override
  public long size() throws IOException {
    return delegate.size();
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    requireRange(position, dst.remaining());
    return delegate.read(dst, position);
  }

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    requireGrowth(position, src.remaining());
    delegate.write(src, position);
  }

  @Override
  public void truncate(long newSize) throws IOException {
    requireGrowth(newSize, 0);
    delegate.truncate(newSize);
  }

  @Override
  public void force(boolean metadata) throws IOException {
    delegate.force(metadata);
  }

  @Override
  public void punchHole(long position, long length) throws IOException {
    requireRange(position, length);
    delegate.punchHole(position, length);
  }

  @Override
  public void zeroRange(long position, long length) throws IOException {
    requireGrowth(position, length);
    delegate.zeroRange(position, length);
  }

  @Override
  public void allocate(long position, long length) throws IOException {
    requireGrowth(position, length);
    delegate.allocate(position, length);
  }

  @Override
  public void close() {
    delegate.close();
  }

  private void requireRange(long position, long length) {
    if (position < 0 || length < 0) {
      // What FileChannel throws for the same call on a real file.
      throw new IllegalArgumentException(name() + ": negative position " + position + " or length " + length);
    }
  }

  private void requireGrowth(long position, long length) throws IOException {
    requireRange(position, length);
    if (position + length > GROWTH_CAP_BYTES || position + length < 0) {
      throw new IOException(name() + ": the fuzzing storage does not grow to " + Long.toUnsignedString(position + length)
          + " bytes (cap " + GROWTH_CAP_BYTES + ")");
    }
  }
}
