package io.qcow4j;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * A read-only disk over another, named by one file: reads, mappings and block status go to it,
 * writes are refused; tests override what they watch or change (a mapping that shrinks the file,
 * one that records its lengths).
 */
public abstract class ForwardingReadOnlyDisk implements DiskFile {
  protected final DiskFile disk;
  protected final Path path;

  protected ForwardingReadOnlyDisk(DiskFile disk, Path path) {
    this.disk = disk;
    this.path = path;
  }

  @Override
  public Optional<MemorySegment> mapped(long offset, long length, Arena arena) throws IOException {
    return disk.mapped(offset, length, arena);
  }

  @Override
  public long size() throws IOException {
    return disk.size();
  }

  @Override
  public ImageFormat format() {
    return disk.format();
  }

  @Override
  public boolean isReadOnly() {
    return true;
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    return disk.read(dst, position);
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    throw new IOException("read-only");
  }

  @Override
  public void flush() {}

  @Override
  public void force(boolean metadata) {}

  @Override
  public void discard(long offset, long length) throws IOException {
    throw new IOException("read-only");
  }

  @Override
  public void writeZeroes(long offset, long length) throws IOException {
    throw new IOException("read-only");
  }

  @Override
  public void allocate(long offset, long length) throws IOException {
    throw new IOException("read-only");
  }

  @Override
  public void resize(long newSize) throws IOException {
    throw new IOException("read-only");
  }

  @Override
  public Extent blockStatus(long offset, long maxLength) throws IOException {
    return disk.blockStatus(offset, maxLength);
  }

  @Override
  public ImageInfo info() throws IOException {
    return disk.info();
  }

  @Override
  public Optional<DiskFile> backing() {
    return Optional.empty();
  }

  @Override
  public List<Path> files() {
    return List.of(path);
  }

  @Override
  public void close() throws IOException {
    disk.close();
  }
}
