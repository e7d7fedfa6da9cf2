package io.qcow4j.internal.storage;

import io.qcow4j.disk.Permission;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The first {@code length} bytes of another storage as a storage of their own (a fixed VHD's data
 * before its footer): nothing past them is read or written, and the size never changes.
 */
public final class PrefixStorage implements Storage {
  private final Storage whole;
  private final long length;

  /** The first {@code length} bytes of {@code whole}, which this closes with itself. */
  public PrefixStorage(Storage whole, long length) {
    this.whole = whole;
    this.length = length;
  }

  @Override
  public String name() {
    return whole.name();
  }

  @Override
  public boolean isReadOnly() {
    return whole.isReadOnly();
  }

  @Override
  public long size() {
    return length;
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    if (position >= length) {
      return dst.hasRemaining() ? -1 : 0;
    }
    int count = (int) Math.min(dst.remaining(), length - position);
    ByteBuffer window = dst.slice(dst.position(), count);
    int read = whole.read(window, position);
    if (read > 0) {
      dst.position(dst.position() + read);
    }
    return read;
  }

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    inside(position, src.remaining());
    whole.write(src, position);
  }

  @Override
  public void truncate(long newSize) throws IOException {
    if (newSize != length) {
      throw new IOException(name() + ": the data area of " + length + " bytes cannot be resized to " + newSize);
    }
  }

  @Override
  public void force(boolean metadata) throws IOException {
    whole.force(metadata);
  }

  @Override
  public void punchHole(long position, long count) throws IOException {
    inside(position, count);
    whole.punchHole(position, count);
  }

  @Override
  public void zeroRange(long position, long count) throws IOException {
    inside(position, count);
    whole.zeroRange(position, count);
  }

  @Override
  public void allocate(long position, long count) throws IOException {
    inside(position, count);
    whole.allocate(position, count);
  }

  @Override
  public void takePermission(Permission permission) throws IOException {
    whole.takePermission(permission);
  }

  @Override
  public long nextData(long position) throws IOException {
    long next = whole.nextData(position);
    return next >= length ? Long.MAX_VALUE : next;
  }

  @Override
  public long nextHole(long position) throws IOException {
    return Math.min(whole.nextHole(position), Math.max(position, length));
  }

  @Override
  public void close() throws IOException {
    whole.close();
  }

  private void inside(long position, long count) throws IOException {
    if (position < 0 || count < 0 || position > length || count > length - position) {
      throw new IOException(name() + ": " + count + " bytes at offset " + position + " reach past the data area ("
          + length + " bytes)");
    }
  }
}
