package io.qcow4j.internal.storage;

import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A window of another storage, as QEMU's raw format with offset and size sees its file (or a
 * fixed VHD's data area before its footer): byte N here is byte offset + N there; without a size
 * the window runs to the end of the file and follows it. Nothing outside the window is read or
 * written; a window of fixed size keeps it.
 */
public final class WindowStorage implements Storage {
  private final Storage whole;
  private final long offset;
  /** The window's length; -1 when it runs to the end of the file. */
  private final long length;

  /** The window of {@code whole} at {@code offset} of {@code length} bytes (-1: to the end), closing it with itself. */
  public WindowStorage(Storage whole, long offset, long length) {
    this.whole = whole;
    this.offset = offset;
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
  public long size() throws IOException {
    return length >= 0 ? length : Math.max(0, whole.size() - offset);
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    long size = size();
    if (position >= size) {
      return dst.hasRemaining() ? -1 : 0;
    }
    int count = (int) Math.min(dst.remaining(), size - position);
    ByteBuffer window = dst.slice(dst.position(), count);
    whole.readOrZero(window, offset + position);
    dst.position(dst.position() + count);
    return count;
  }

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    checkInside(position, src.remaining());
    whole.write(src, offset + position);
  }

  @Override
  public void truncate(long newSize) throws IOException {
    if (length < 0) {
      whole.truncate(offset + newSize);
    } else if (newSize != length) {
      throw new IOException(name() + ": the window of " + length + " bytes (a raw image's offset/size, a fixed "
          + "VHD's data area) cannot be resized to " + newSize);
    }
  }

  @Override
  public void force(boolean metadata) throws IOException {
    whole.force(metadata);
  }

  @Override
  public void punchHole(long position, long count) throws IOException {
    checkInside(position, count);
    whole.punchHole(offset + position, count);
  }

  @Override
  public void zeroRange(long position, long count) throws IOException {
    checkInside(position, count);
    whole.zeroRange(offset + position, count);
  }

  @Override
  public void allocate(long position, long count) throws IOException {
    checkInside(position, count);
    whole.allocate(offset + position, count);
  }

  @Override
  public long nextData(long position) throws IOException {
    long size = size();
    if (position >= size) {
      return Long.MAX_VALUE;
    }
    long data = whole.nextData(offset + position);
    return data == Long.MAX_VALUE || data - offset >= size ? Long.MAX_VALUE : data - offset;
  }

  @Override
  public long nextHole(long position) throws IOException {
    long size = size();
    if (position >= size) {
      return position;
    }
    return Math.min(size, whole.nextHole(offset + position) - offset);
  }

  @Override
  public void debugEvent(String event) {
    whole.debugEvent(event);
  }

  @Override
  public io.qcow4j.storage.DebugBreakpoints debugBreakpoints() {
    return whole.debugBreakpoints();
  }

  @Override
  public void takePermission(io.qcow4j.disk.Permission permission) throws IOException {
    whole.takePermission(permission);
  }

  private void checkInside(long position, long count) throws IOException {
    if (length >= 0 && (position < 0 || position + count > length)) {
      throw new IOException(name() + ": request at " + position + " of " + count
          + " bytes is outside the raw window of " + length + " bytes");
    }
  }

  @Override
  public void close() throws IOException {
    whole.close();
  }
}
