package io.qcow4j.nbd;

import io.qcow4j.disk.AmendOptions;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.SnapshotInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** A DiskFile that forwards every call, for test decorators to override what they observe. */
class ForwardingDisk implements DiskFile {
  protected final DiskFile delegate;

  ForwardingDisk(DiskFile delegate) {
    this.delegate = delegate;
  }

  @Override
  public long size() throws IOException {
    return delegate.size();
  }

  @Override
  public ImageFormat format() {
    return delegate.format();
  }

  @Override
  public boolean isReadOnly() {
    return delegate.isReadOnly();
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    return delegate.read(dst, position);
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    return delegate.write(src, position);
  }

  @Override
  public void flush() throws IOException {
    delegate.flush();
  }

  @Override
  public void force(boolean metadata) throws IOException {
    delegate.force(metadata);
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    delegate.discard(offset, length);
  }

  @Override
  public void writeZeroes(long offset, long length) throws IOException {
    delegate.writeZeroes(offset, length);
  }

  @Override
  public void writeZeroesUnmap(long offset, long length) throws IOException {
    delegate.writeZeroesUnmap(offset, length);
  }

  @Override
  public boolean hasFastZeroes() {
    return delegate.hasFastZeroes();
  }

  @Override
  public void allocate(long offset, long length) throws IOException {
    delegate.allocate(offset, length);
  }

  @Override
  public void resize(long newSize) throws IOException {
    delegate.resize(newSize);
  }

  @Override
  public Extent blockStatus(long offset, long maxLength) throws IOException {
    return delegate.blockStatus(offset, maxLength);
  }

  @Override
  public ImageInfo info() throws IOException {
    return delegate.info();
  }

  @Override
  public List<SnapshotInfo> snapshots() throws IOException {
    return delegate.snapshots();
  }

  @Override
  public SnapshotInfo createSnapshot(String name) throws IOException {
    return delegate.createSnapshot(name);
  }

  @Override
  public void applySnapshot(String nameOrId) throws IOException {
    delegate.applySnapshot(nameOrId);
  }

  @Override
  public void deleteSnapshot(String nameOrId) throws IOException {
    delegate.deleteSnapshot(nameOrId);
  }

  @Override
  public CheckResult check(CheckResult.Repair repair) throws IOException {
    return delegate.check(repair);
  }

  @Override
  public void amend(AmendOptions options) throws IOException {
    delegate.amend(options);
  }

  @Override
  public Optional<DiskFile> backing() {
    return delegate.backing();
  }

  @Override
  public List<Path> files() {
    return delegate.files();
  }

  @Override
  public void close() throws IOException {
    delegate.close();
  }
}
