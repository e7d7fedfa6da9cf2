package io.qcow4j.internal.formats;

import io.qcow4j.disk.ClosedImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.internal.Arguments;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * A new image of a block-mapped format (dynamic VHD, VDI, VHDX) being filled, as a convert or
 * create target: a write to a block not yet in the file allocates it where the format puts new
 * blocks, zeros in unallocated blocks cost nothing, and the format's tables (written by
 * {@link #writeMetadata}) reach the file at every flush and at close. The image is only ever
 * written by this object, from its creation on, so nothing is read back from the file's tables.
 */
public abstract class BlockImageWriter implements DiskFile {
  /** The image file. */
  protected final Storage storage;
  private final Path path;
  private final long size;
  /** The bytes one table entry maps. */
  protected final long blockSize;
  private final int blockCount;
  private boolean dirty = true;
  private volatile boolean closed;

  /** An image of {@code size} guest bytes in blocks of {@code blockSize} over {@code storage}, named {@code path}. */
  protected BlockImageWriter(Storage storage, Path path, long size, long blockSize) {
    this.storage = storage;
    this.path = path;
    this.size = size;
    this.blockSize = blockSize;
    this.blockCount = Math.toIntExact((size + blockSize - 1) / blockSize);
  }

  /**
   * Places block {@code blockIndex} in the file (the format's bitmap or preamble written, the file
   * grown) and returns where its data starts; called with this object's lock held, once per block.
   */
  protected abstract long allocateBlock(int blockIndex) throws IOException;

  /** Writes the format's tables, headers and footers for the blocks allocated so far. */
  protected abstract void writeMetadata() throws IOException;

  /** Where block {@code blockIndex}'s data starts in the file, or -1 while it is not allocated (from the format's table). */
  protected abstract long hostOffsetOf(int blockIndex);

  /** Where block {@code blockIndex}'s data starts in the file, or -1. */
  private synchronized long hostOffset(int blockIndex) {
    return hostOffsetOf(blockIndex);
  }

  /** The number of blocks that cover the disk. */
  protected final int blockCount() {
    return blockCount;
  }

  @Override
  public final long size() {
    return size;
  }

  @Override
  public final boolean isReadOnly() {
    return false;
  }

  @Override
  public final int read(ByteBuffer dst, long position) throws IOException {
    ensureOpen();
    Arguments.position(name(), position);
    if (position >= size) {
      return dst.hasRemaining() ? -1 : 0;
    }
    int count = (int) Math.min(dst.remaining(), size - position);
    int start = dst.position();
    int done = 0;
    while (done < count) {
      long offset = position + done;
      int blockIndex = (int) (offset / blockSize);
      long inBlock = offset % blockSize;
      int length = (int) Math.min(count - done, blockSize - inBlock);
      ByteBuffer window = dst.slice(start + done, length);
      long host = hostOffset(blockIndex);
      if (host < 0) {
        while (window.hasRemaining()) {
          window.put((byte) 0);
        }
      } else {
        storage.readOrZero(window, host + inBlock);
      }
      done += length;
    }
    dst.position(start + count);
    return count;
  }

  @Override
  public final int write(ByteBuffer src, long position) throws IOException {
    ensureOpen();
    int count = src.remaining();
    Arguments.range(name(), position, count, size);
    if (count == 0) {
      return 0;
    }
    allocateRange((int) (position / blockSize), (int) ((position + count - 1) / blockSize));
    int start = src.position();
    int done = 0;
    while (done < count) {
      long offset = position + done;
      int blockIndex = (int) (offset / blockSize);
      long inBlock = offset % blockSize;
      long host = hostOffset(blockIndex) + inBlock;
      int length = (int) Math.min(count - done, blockSize - inBlock);
      // one write for the blocks that follow each other in the file too
      while (done + length < count && hostOffset(++blockIndex) == host + length) {
        length += (int) Math.min(count - done - length, blockSize);
      }
      storage.write(src.slice(start + done, length), host);
      done += length;
    }
    src.position(start + count);
    return count;
  }

  /**
   * Allocates the blocks from {@code first} to {@code last} that are not yet in the file, in guest
   * order, under this object's lock, then lets the format place what it places after a request's
   * new blocks ({@link #allocatedRun}).
   */
  private synchronized void allocateRange(int first, int last) throws IOException {
    boolean any = false;
    for (int block = first; block <= last; block++) {
      if (hostOffsetOf(block) < 0) {
        allocateBlock(block);
        any = true;
      }
    }
    if (any) {
      dirty = true;
      allocatedRun();
    }
  }

  /**
   * Called with this object's lock held once the blocks one request needed are allocated; a format
   * that places new tables after the data of the request that needed them (QED) does it here.
   */
  protected void allocatedRun() throws IOException {}

  /** Zeros: nothing to do in an unallocated block (it reads as zeros); zero bytes written in an allocated one. */
  @Override
  public final void writeZeroes(long offset, long length) throws IOException {
    ensureOpen();
    Arguments.range(name(), offset, length, size);
    long done = 0;
    while (done < length) {
      long at = offset + done;
      int blockIndex = (int) (at / blockSize);
      long inBlock = at % blockSize;
      long piece = Math.min(length - done, blockSize - inBlock);
      long host = hostOffset(blockIndex);
      if (host >= 0) {
        storage.zeroRange(host + inBlock, piece);
      }
      done += piece;
    }
  }

  @Override
  public final void discard(long offset, long length) throws IOException {
    writeZeroes(offset, length);
  }

  @Override
  public final void allocate(long offset, long length) throws IOException {
    ensureOpen();
    Arguments.range(name(), offset, length, size);
    if (length > 0) {
      allocateRange((int) (offset / blockSize), (int) ((offset + length - 1) / blockSize));
    }
  }

  @Override
  public final void resize(long newSize) throws IOException {
    throw new UnsupportedFeatureException(name() + ": qcow4j cannot resize " + format().id() + " images");
  }

  @Override
  public final synchronized void flush() throws IOException {
    ensureOpen();
    if (dirty) {
      writeMetadata();
      dirty = false;
    }
  }

  @Override
  public final void force(boolean metadata) throws IOException {
    flush();
    storage.force(metadata);
  }

  @Override
  public final Extent blockStatus(long offset, long maxLength) throws IOException {
    ensureOpen();
    if (offset < 0 || offset >= size || maxLength <= 0) {
      throw new IllegalArgumentException(name() + ": block status at " + offset + " outside the disk (" + size
          + " bytes)");
    }
    int blockIndex = (int) (offset / blockSize);
    long length = Math.min(Math.min(maxLength, size - offset), blockSize - offset % blockSize);
    long host = hostOffset(blockIndex);
    if (host < 0) {
      return new Extent(offset, length, 0, true, true, false, false, -1, null);
    }
    return new Extent(offset, length, 0, true, false, true, false, host + offset % blockSize, path);
  }

  @Override
  public ImageInfo info() throws IOException {
    return new ImageInfo(path, format(), size, -1, null, null, null, null, blockSize, false);
  }

  @Override
  public final Optional<DiskFile> backing() {
    return Optional.empty();
  }

  @Override
  public final List<Path> files() {
    return path == null ? List.of() : List.of(path);
  }

  @Override
  public final void close() throws IOException {
    if (closed) {
      return;
    }
    try (Storage closing = storage) {
      flush();
    } finally {
      closed = true;
    }
  }

  /** The image's name for messages. */
  protected final String name() {
    return storage.name();
  }

  private void ensureOpen() throws ClosedImageException {
    if (closed) {
      throw new ClosedImageException(name());
    }
  }
}
