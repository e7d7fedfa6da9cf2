package io.qcow4j.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

/**
 * Storage over a host file through {@link FileChannel}; hole punching and zeroing use fallocate
 * where the file system supports it and fall back to writing zeros.
 *
 * <p>Callers must never interrupt a thread inside these calls: an interrupt closes the channel
 * for every thread.
 */
public final class FileStorage implements Storage {
  private static final int ZERO_CHUNK = 1 << 20;

  private final Path path;
  private final FileChannel channel;
  private final boolean readOnly;
  private final Optional<NativeFile> nativeFile;

  private FileStorage(Path path, FileChannel channel, boolean readOnly, Optional<NativeFile> nativeFile) {
    this.path = path;
    this.channel = channel;
    this.readOnly = readOnly;
    this.nativeFile = nativeFile;
  }

  /** Opens an existing file, read-only or read-write. */
  public static FileStorage open(Path path, boolean readOnly) throws IOException {
    FileChannel channel = readOnly
        ? FileChannel.open(path, StandardOpenOption.READ)
        : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
    return new FileStorage(path, channel, readOnly, NativeFile.open(path, readOnly));
  }

  /** Creates a new, empty file (failing if it exists unless {@code replace}) and opens it read-write. */
  public static FileStorage create(Path path, boolean replace) throws IOException {
    FileChannel channel = replace
        ? FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE,
            StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING)
        : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE,
            StandardOpenOption.CREATE_NEW);
    return new FileStorage(path, channel, false, NativeFile.open(path, false));
  }

  /** The host path. */
  public Path path() {
    return path;
  }

  @Override
  public String name() {
    return path.toString();
  }

  @Override
  public boolean isReadOnly() {
    return readOnly;
  }

  @Override
  public long size() throws IOException {
    return channel.size();
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    return channel.read(dst, position);
  }

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    long cursor = position;
    while (src.hasRemaining()) {
      cursor += channel.write(src, cursor);
    }
  }

  @Override
  public void truncate(long newSize) throws IOException {
    long current = channel.size();
    if (newSize < current) {
      channel.truncate(newSize);
    } else if (newSize > current) {
      // FileChannel.truncate never grows a file; a one-byte write at the end does, sparsely.
      channel.write(ByteBuffer.allocate(1), newSize - 1);
    }
  }

  @Override
  public void force(boolean metadata) throws IOException {
    channel.force(metadata);
  }

  @Override
  public void punchHole(long position, long length) throws IOException {
    long end = Math.min(position + length, channel.size());
    if (end <= position) {
      return;
    }
    if (nativeFile.isPresent()
        && nativeFile.get().fallocate(NativeFile.PUNCH_HOLE | NativeFile.KEEP_SIZE, position, end - position)) {
      return;
    }
    writeZeros(position, end - position);
  }

  @Override
  public void zeroRange(long position, long length) throws IOException {
    if (length <= 0) {
      return;
    }
    if (nativeFile.isPresent() && nativeFile.get().fallocate(NativeFile.ZERO_RANGE, position, length)) {
      return;
    }
    writeZeros(position, length);
  }

  @Override
  public void allocate(long position, long length) throws IOException {
    if (length <= 0) {
      return;
    }
    if (nativeFile.isPresent() && nativeFile.get().fallocate(0, position, length)) {
      return;
    }
    // Without fallocate, growing the file is all that can be promised: existing bytes stay.
    if (channel.size() < position + length) {
      truncate(position + length);
    }
  }

  @Override
  public long nextData(long position) throws IOException {
    if (nativeFile.isEmpty()) {
      return position;
    }
    long found = nativeFile.get().seekData(position);
    // ENXIO (no data up to the end) comes back as -1 too; the size is then the answer.
    return found < 0 ? Math.max(position, channel.size()) : found;
  }

  @Override
  public long nextHole(long position) throws IOException {
    long size = channel.size();
    if (nativeFile.isEmpty()) {
      return size;
    }
    long found = nativeFile.get().seekHole(position);
    return found < 0 ? size : found;
  }

  @Override
  public void close() throws IOException {
    nativeFile.ifPresent(NativeFile::close);
    channel.close();
  }

  private void writeZeros(long position, long length) throws IOException {
    ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(ZERO_CHUNK, length));
    long cursor = position;
    long end = position + length;
    while (cursor < end) {
      zeros.clear().limit((int) Math.min(zeros.capacity(), end - cursor));
      write(zeros, cursor);
      cursor += zeros.limit();
    }
  }
}
