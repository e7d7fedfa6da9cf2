package io.qcow4j.internal.storagenodes;

import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.locks.LockSupport;

/**
 * QEMU's null-co and null-aio: a device of a fixed size that swallows writes and reads as zeros
 * (with read-zeroes; without, QEMU leaves the reader's buffer as it was, which here is zeros too),
 * each request taking latency-ns.
 */
public final class NullStorage implements Storage {
  private final String driver;
  private final long size;
  private final boolean readZeroes;
  private final long latencyNs;

  public NullStorage(String driver, long size, boolean readZeroes, long latencyNs) {
    this.driver = driver;
    this.size = size;
    this.readZeroes = readZeroes;
    this.latencyNs = latencyNs;
  }

  private void delay() {
    if (latencyNs > 0) {
      LockSupport.parkNanos(latencyNs);
    }
  }

  /** QEMU's null driver has no bdrv_get_info. */
  @Override
  public boolean hasDriverInfo() {
    return false;
  }

  @Override
  public String name() {
    return driver + "://";
  }

  @Override
  public boolean isReadOnly() {
    return false;
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public int read(ByteBuffer dst, long position) {
    delay();
    if (position >= size) {
      return dst.hasRemaining() ? -1 : 0;
    }
    int count = (int) Math.min(dst.remaining(), size - position);
    for (int i = 0; i < count; i++) {
      dst.put((byte) 0);
    }
    return count;
  }

  @Override
  public void write(ByteBuffer src, long position) {
    delay();
    src.position(src.limit());
  }

  @Override
  public void truncate(long newSize) throws IOException {
    throw new IOException("Image format driver does not support resize");
  }

  @Override
  public void force(boolean metadata) {
    delay();
  }

  @Override
  public void punchHole(long position, long length) {}

  @Override
  public void zeroRange(long position, long length) {}

  @Override
  public void allocate(long position, long length) {}

  /** With read-zeroes everything is a hole (QEMU reports zeros); without, everything is data. */
  @Override
  public long nextData(long position) {
    return readZeroes || position >= size ? Long.MAX_VALUE : position;
  }

  @Override
  public long nextHole(long position) {
    return readZeroes ? position : Math.max(position, size);
  }

  @Override
  public void close() {}
}
