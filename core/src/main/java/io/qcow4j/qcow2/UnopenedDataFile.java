package io.qcow4j.qcow2;

import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The external data file of an image opened only to be described (QEMU's BDRV_O_NO_IO, as
 * qemu-img info opens): QEMU does not open it, so that info can be run on an untrusted image
 * without touching the files it names. It has no bytes; any I/O fails.
 */
final class UnopenedDataFile implements Storage {
  private final String name;

  UnopenedDataFile(String name) {
    this.name = name;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public boolean isReadOnly() {
    return true;
  }

  @Override
  public long size() {
    return 0;
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    throw refused();
  }

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    throw refused();
  }

  @Override
  public void truncate(long newSize) throws IOException {
    throw refused();
  }

  @Override
  public void force(boolean metadata) {
    // nothing was written
  }

  @Override
  public void punchHole(long position, long length) throws IOException {
    throw refused();
  }

  @Override
  public void zeroRange(long position, long length) throws IOException {
    throw refused();
  }

  @Override
  public void allocate(long position, long length) throws IOException {
    throw refused();
  }

  @Override
  public void close() {
    // nothing was opened
  }

  private IOException refused() {
    return new IOException(name + ": the external data file is not opened (the image is opened only to be described)");
  }
}
