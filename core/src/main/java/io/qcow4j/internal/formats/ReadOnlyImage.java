package io.qcow4j.internal.formats;

import io.qcow4j.disk.ClosedImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.HostRange;
import io.qcow4j.disk.ReadOnlyImageException;
import io.qcow4j.internal.Arguments;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A disk image that qcow4j only reads (vpc, vdi, qed, qcow, vhdx, bochs): reads, block status and the refusal of
 * every change, over a format's guest-to-host {@link Mapping}; a subclass only decodes its tables.
 */
public abstract class ReadOnlyImage implements DiskFile {
  /** The image file. */
  protected final Storage storage;
  /** The image file's name as opened (nullable for a bare storage). */
  protected final Path path;
  private final long size;
  private final DiskFile backing;
  private volatile boolean closed;

  /**
   * An image of {@code size} guest bytes over {@code storage}, reading unallocated ranges through
   * {@code backing} (nullable), which it closes with itself.
   */
  protected ReadOnlyImage(Storage storage, Path path, long size, DiskFile backing) {
    this.storage = storage;
    this.path = path;
    this.size = size;
    this.backing = backing;
  }

  /** How the guest range from {@code guestOffset} is stored, for at least one and at most {@code maxLength} bytes. */
  protected abstract Mapping map(long guestOffset, long maxLength) throws IOException;

  /**
   * Reads the {@link Mapping.State#COMPRESSED} range starting at {@code guestOffset} into
   * {@code dst} (its remaining bytes lie within that one mapping); {@code descriptor} is the
   * mapping's host offset as the format encodes it.
   */
  protected void readCompressed(long descriptor, long guestOffset, ByteBuffer dst) throws IOException {
    throw new UnsupportedOperationException(format().id() + " has no compressed ranges");
  }

  @Override
  public final long size() {
    return size;
  }

  @Override
  public final boolean isReadOnly() {
    return true;
  }

  @Override
  public final int read(ByteBuffer dst, long position) throws IOException {
    ensureOpen();
    Arguments.notNull(name(), dst, "buffer");
    Arguments.position(name(), position);
    if (position >= size) {
      return dst.hasRemaining() ? -1 : 0;
    }
    int count = (int) Math.min(dst.remaining(), size - position);
    int start = dst.position();
    long guestOffset = position;
    int done = 0;
    while (done < count) {
      Mapping mapping = map(guestOffset, count - done);
      int length = (int) Math.min(mapping.length(), count - done);
      ByteBuffer window = dst.slice(start + done, length);
      switch (mapping.state()) {
        case DATA, DATA_RECURSE -> storage.readOrZero(window, mapping.hostOffset());
        case ZERO -> zero(window);
        case UNALLOCATED -> readBacking(window, guestOffset);
        case COMPRESSED -> readCompressed(mapping.hostOffset(), guestOffset, window);
      }
      done += length;
      guestOffset += length;
    }
    dst.position(start + count);
    return count;
  }

  private void readBacking(ByteBuffer window, long guestOffset) throws IOException {
    if (backing == null) {
      zero(window);
      return;
    }
    long backingSize = backing.size();
    if (guestOffset < backingSize) {
      int inside = (int) Math.min(window.remaining(), backingSize - guestOffset);
      backing.readFully(window.slice(window.position(), inside), guestOffset);
      window.position(window.position() + inside);
    }
    zero(window);
  }

  private static final byte[] ZEROS = new byte[64 << 10];

  private static void zero(ByteBuffer window) {
    while (window.hasRemaining()) {
      window.put(ZEROS, 0, Math.min(ZEROS.length, window.remaining()));
    }
  }

  /**
   * Whether the format reports where its data lies; a format that does not (QEMU's drivers without
   * block status: bochs) reports every range as data at no known offset.
   */
  protected boolean reportsBlockStatus() {
    return true;
  }

  /**
   * Where the range lies in the image file when the format keeps all of it as data contiguous on
   * the host (blocks in guest order, as the formats allocate them); empty otherwise, and over
   * storage that is not the image file (a VHDX log replayed in memory).
   */
  @Override
  public final Optional<HostRange> hostRange(long offset, long length) throws IOException {
    ensureOpen();
    if (!(storage instanceof FileStorage) || offset < 0 || length <= 0 || length > size - offset) {
      return Optional.empty();
    }
    long hostStart = -1;
    long cursor = offset;
    long end = offset + length;
    while (cursor < end) {
      Mapping mapping = map(cursor, end - cursor);
      boolean data = mapping.state() == Mapping.State.DATA || mapping.state() == Mapping.State.DATA_RECURSE;
      boolean contiguous = hostStart < 0 || mapping.hostOffset() == hostStart + (cursor - offset);
      if (!data || mapping.length() <= 0 || mapping.hostOffset() < 0 || !contiguous) {
        return Optional.empty();
      }
      if (hostStart < 0) {
        hostStart = mapping.hostOffset();
      }
      cursor += mapping.length();
    }
    return hostStart + length > storage.size() ? Optional.empty() : Optional.of(new HostRange(storage, hostStart));
  }

  @Override
  public final Extent blockStatus(long offset, long maxLength) throws IOException {
    ensureOpen();
    if (offset < 0 || offset >= size || maxLength <= 0) {
      throw new IllegalArgumentException(name() + ": block status at " + offset + " outside the disk (" + size
          + " bytes)");
    }
    long length = Math.min(maxLength, size - offset);
    if (!reportsBlockStatus()) {
      return new Extent(offset, length, 0, true, false, true, false, -1, null);
    }
    Mapping mapping = map(offset, length);
    length = Math.min(length, mapping.length());
    long host = mapping.hostOffset();
    return switch (mapping.state()) {
      case DATA -> new Extent(offset, length, 0, true, false, true, false, host, path);
      case DATA_RECURSE -> hostStatus(offset, length, host);
      case ZERO -> new Extent(offset, length, 0, true, true, false, false, -1, null);
      case COMPRESSED -> new Extent(offset, length, 0, true, false, true, true, -1, null);
      case UNALLOCATED -> backingStatus(offset, length);
    };
  }

  /**
   * The status of data stored at {@code host} with the host file's holes (QEMU's BDRV_BLOCK_RECURSE):
   * a hole stays data and reads as zeros.
   */
  private Extent hostStatus(long offset, long length, long host) throws IOException {
    long nextData = storage.nextData(host);
    if (nextData > host) {
      long hole = Math.min(length, nextData - host);
      return new Extent(offset, hole, 0, true, true, true, false, host, path);
    }
    long dataLength = Math.min(length, Math.max(storage.nextHole(host), host + 1) - host);
    return new Extent(offset, dataLength, 0, true, false, true, false, host, path);
  }

  private Extent backingStatus(long offset, long length) throws IOException {
    if (backing == null || offset >= backing.size()) {
      return new Extent(offset, length, 0, false, true, false, false, -1, null);
    }
    return backing.blockStatus(offset, Math.min(length, backing.size() - offset)).deeper();
  }

  @Override
  public final int write(ByteBuffer src, long position) throws IOException {
    throw refused();
  }

  @Override
  public final void flush() throws IOException {
    ensureOpen();
  }

  @Override
  public final void force(boolean metadata) throws IOException {
    ensureOpen();
  }

  @Override
  public final void discard(long offset, long length) throws IOException {
    throw refused();
  }

  @Override
  public final void writeZeroes(long offset, long length) throws IOException {
    throw refused();
  }

  @Override
  public final void allocate(long offset, long length) throws IOException {
    throw refused();
  }

  @Override
  public final void resize(long newSize) throws IOException {
    throw refused();
  }

  @Override
  public final Optional<DiskFile> backing() {
    return Optional.ofNullable(backing);
  }

  @Override
  public final List<Path> files() {
    List<Path> files = new ArrayList<>();
    if (path != null) {
      files.add(path);
    }
    if (backing != null) {
      files.addAll(backing.files());
    }
    return files;
  }

  @Override
  public final void close() throws IOException {
    closed = true;
    try (Storage closing = storage) {
      if (backing != null) {
        backing.close();
      }
    }
  }

  /** The image's name for messages. */
  protected final String name() {
    return storage.name();
  }

  private ReadOnlyImageException refused() throws ClosedImageException {
    ensureOpen();
    return new ReadOnlyImageException(name() + ": image is opened read-only (qcow4j reads " + format().id()
        + " images only)");
  }

  private void ensureOpen() throws ClosedImageException {
    if (closed) {
      throw new ClosedImageException(name());
    }
  }
}
