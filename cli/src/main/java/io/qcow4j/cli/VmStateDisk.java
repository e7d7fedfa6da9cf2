package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The VM state area of an image seen as a disk, for qemu-io's read -b and write -b: reads and
 * writes go to {@link DiskFile#readVmState} and {@link DiskFile#writeVmState}; nothing else is
 * offered. Its size is unbounded (the image refuses what it cannot hold).
 */
final class VmStateDisk implements DiskFile {
  private final DiskFile image;

  VmStateDisk(DiskFile image) {
    this.image = image;
  }

  @Override
  public long size() {
    return Long.MAX_VALUE;
  }

  @Override
  public ImageFormat format() {
    return image.format();
  }

  @Override
  public boolean isReadOnly() {
    return image.isReadOnly();
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    int count = dst.remaining();
    image.readVmState(dst, position);
    dst.position(dst.limit());
    return count;
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    int count = src.remaining();
    image.writeVmState(src, position);
    src.position(src.limit());
    return count;
  }

  @Override
  public void flush() throws IOException {
    image.flush();
  }

  @Override
  public void force(boolean metadata) throws IOException {
    image.force(metadata);
  }

  @Override
  public void discard(long offset, long length) {
    throw new UnsupportedOperationException("the VM state area is read and written only");
  }

  @Override
  public void writeZeroes(long offset, long length) {
    throw new UnsupportedOperationException("the VM state area is read and written only");
  }

  @Override
  public void allocate(long offset, long length) {
    throw new UnsupportedOperationException("the VM state area is read and written only");
  }

  @Override
  public void resize(long newSize) {
    throw new UnsupportedOperationException("the VM state area is read and written only");
  }

  @Override
  public Extent blockStatus(long offset, long maxLength) {
    throw new UnsupportedOperationException("the VM state area is read and written only");
  }

  @Override
  public ImageInfo info() throws IOException {
    return image.info();
  }

  @Override
  public Optional<DiskFile> backing() {
    return Optional.empty();
  }

  @Override
  public List<Path> files() {
    return image.files();
  }

  @Override
  public void close() {
    // the image is the session's
  }
}
