package io.qcow4j.internal.storage;

import io.qcow4j.disk.Permission;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Another storage whose barriers do nothing: QEMU's cache=unsafe (BDRV_O_NO_FLUSH), what
 * qemu-img convert uses for the image it makes. Writes still reach the host file in the order
 * they are made; only durability is given up, for an image that is worthless until the
 * conversion ends anyway. Everything else goes to the storage underneath, vectored I/O included.
 */
public final class NoFlushStorage implements Storage {
  private final Storage inner;

  /** {@code inner} without barriers; closing this closes it. */
  public NoFlushStorage(Storage inner) {
    this.inner = inner;
  }

  @Override
  public String name() {
    return inner.name();
  }

  @Override
  public boolean isReadOnly() {
    return inner.isReadOnly();
  }

  @Override
  public long size() throws IOException {
    return inner.size();
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    return inner.read(dst, position);
  }

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    inner.write(src, position);
  }

  @Override
  public void truncate(long newSize) throws IOException {
    inner.truncate(newSize);
  }

  /** Nothing: no barrier, no sync (cache=unsafe). */
  @Override
  public void force(boolean metadata) {}

  @Override
  public void punchHole(long position, long length) throws IOException {
    inner.punchHole(position, length);
  }

  @Override
  public void zeroRange(long position, long length) throws IOException {
    inner.zeroRange(position, length);
  }

  @Override
  public void allocate(long position, long length) throws IOException {
    inner.allocate(position, length);
  }

  @Override
  public void takePermission(Permission permission) throws IOException {
    inner.takePermission(permission);
  }

  @Override
  public long nextData(long position) throws IOException {
    return inner.nextData(position);
  }

  @Override
  public long nextHole(long position) throws IOException {
    return inner.nextHole(position);
  }

  @Override
  public void readFully(ByteBuffer dst, long position) throws IOException {
    inner.readFully(dst, position);
  }

  @Override
  public void readOrZero(ByteBuffer dst, long position) throws IOException {
    inner.readOrZero(dst, position);
  }

  @Override
  public long read(ByteBuffer[] dsts, long position) throws IOException {
    return inner.read(dsts, position);
  }

  @Override
  public void readFully(ByteBuffer[] dsts, long position) throws IOException {
    inner.readFully(dsts, position);
  }

  @Override
  public void readOrZero(ByteBuffer[] dsts, long position) throws IOException {
    inner.readOrZero(dsts, position);
  }

  @Override
  public void write(ByteBuffer[] srcs, long position) throws IOException {
    inner.write(srcs, position);
  }

  @Override
  public void close() throws IOException {
    inner.close();
  }
}
