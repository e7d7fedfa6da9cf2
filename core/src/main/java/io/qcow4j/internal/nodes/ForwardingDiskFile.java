package io.qcow4j.internal.nodes;

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

/** A disk that hands every call to another: the base of the nodes that sit on top of a disk. */
abstract class ForwardingDiskFile implements DiskFile {
  /** The disk below, closed with this one. */
  protected final DiskFile below;
  private final String driver;

  /** Forwards to {@code below}, reporting {@code driver} as the top driver's name. */
  ForwardingDiskFile(DiskFile below, String driver) {
    this.below = below;
    this.driver = driver;
  }

  @Override
  public String driverName() {
    return driver;
  }

  @Override
  public long size() throws IOException {
    return below.size();
  }

  @Override
  public ImageFormat format() {
    return below.format();
  }

  @Override
  public boolean isReadOnly() {
    return below.isReadOnly();
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    return below.read(dst, position);
  }

  @Override
  public long read(ByteBuffer[] dsts, long position) throws IOException {
    return below.read(dsts, position);
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    return below.write(src, position);
  }

  @Override
  public long write(ByteBuffer[] srcs, long position) throws IOException {
    return below.write(srcs, position);
  }

  @Override
  public void flush() throws IOException {
    below.flush();
  }

  @Override
  public void force(boolean metadata) throws IOException {
    below.force(metadata);
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    below.discard(offset, length);
  }

  @Override
  public void writeZeroes(long offset, long length) throws IOException {
    below.writeZeroes(offset, length);
  }

  @Override
  public void writeZeroesUnmap(long offset, long length) throws IOException {
    below.writeZeroesUnmap(offset, length);
  }

  @Override
  public boolean hasFastZeroes() {
    return below.hasFastZeroes();
  }

  @Override
  public void allocate(long offset, long length) throws IOException {
    below.allocate(offset, length);
  }

  @Override
  public void resize(long newSize) throws IOException {
    below.resize(newSize);
  }

  @Override
  public Extent blockStatus(long offset, long maxLength) throws IOException {
    return below.blockStatus(offset, maxLength);
  }

  @Override
  public ImageInfo info() throws IOException {
    return below.info();
  }

  @Override
  public boolean hasDriverInfo() {
    return below.hasDriverInfo();
  }

  @Override
  public String nodeFilename() {
    return below.nodeFilename();
  }

  @Override
  public io.qcow4j.storage.DebugBreakpoints debugBreakpoints() {
    return below.debugBreakpoints();
  }

  @Override
  public List<SnapshotInfo> snapshots() throws IOException {
    return below.snapshots();
  }

  @Override
  public CheckResult check(CheckResult.Repair repair) throws IOException {
    return below.check(repair);
  }

  @Override
  public void amend(AmendOptions options) throws IOException {
    below.amend(options);
  }

  @Override
  public void amend(AmendOptions options, io.qcow4j.disk.AmendProgress progress) throws IOException {
    below.amend(options, progress);
  }

  @Override
  public Optional<DiskFile> backing() {
    return below.backing();
  }

  @Override
  public List<Path> files() {
    return below.files();
  }

  @Override
  public void close() throws IOException {
    below.close();
  }
}
