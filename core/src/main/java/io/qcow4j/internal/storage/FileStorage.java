package io.qcow4j.internal.storage;

import io.qcow4j.storage.ClosedStorageException;
import io.qcow4j.storage.Storage;
import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentSkipListMap;

/**
 * Storage over a host file through {@link FileChannel}; hole punching and zeroing use fallocate
 * where the file system supports it and fall back to writing zeros; vectored reads and writes are
 * one preadv/pwritev where the platform has them.
 *
 * <p>{@link #close} waits for the native calls in flight (fallocate, lseek, preadv, pwritev) and
 * every call after it fails with {@link ClosedStorageException}, so no call reaches a descriptor
 * number the kernel may have given to another file.
 *
 * <p>An interrupt of a thread inside a call closes a {@link FileChannel} for every thread; here the
 * interrupted call fails with {@link InterruptedIOException} and the channel is opened again, so
 * other threads' calls carry on.
 */
public final class FileStorage implements Storage {
  private static final int ZERO_CHUNK = 1 << 20;

  private final Path path;
  /** Replaced when an interrupt closes it: see {@link #io}. */
  private volatile FileChannel channel;
  private volatile boolean closed;
  private final boolean readOnly;
  private final Optional<NativeFile> nativeFile;
  /** The image locks held: set once at open, widened by {@link #takePermission}. */
  private LockRequest lock = LockRequest.NONE;
  /**
   * The scope whose copies into this file may be in flight ({@link CopyBehind}), or null: every
   * other call waits for them first ({@link #ensureOpen}).
   */
  private volatile CopyBehind behind;
  /** Whether a kernel copy into this file succeeded: only then are copies handed to a {@link CopyBehind}. */
  private volatile boolean kernelCopies;
  /** False in cache mode unsafe ({@link #skipFlushes}): {@link #force} does nothing. */
  private volatile boolean flushes = true;

  private FileStorage(Path path, FileChannel channel, boolean readOnly, Optional<NativeFile> nativeFile) {
    this.path = path;
    this.channel = channel;
    this.readOnly = readOnly;
    this.nativeFile = nativeFile;
  }

  /** Opens an existing file, read-only or read-write, taking no image locks. */
  public static FileStorage open(Path path, boolean readOnly) throws IOException {
    return open(path, readOnly, LockRequest.NONE);
  }

  /**
   * Opens an existing file, read-only or read-write, with the image locks {@code lock} asks for;
   * they last until {@link #close}. A conflict with another user's locks fails the open with
   * {@link io.qcow4j.disk.ImageLockedException} and leaves the file untouched.
   */
  public static FileStorage open(Path path, boolean readOnly, LockRequest lock) throws IOException {
    FileChannel channel = readOnly
        ? FileChannel.open(path, StandardOpenOption.READ)
        : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
    return locked(new FileStorage(path, channel, readOnly, NativeFile.open(path, readOnly)), lock);
  }

  /**
   * Creates a file (failing if it exists unless {@code replace}) and opens it read-write, empty.
   * An existing file is emptied only once the locks QEMU takes to create an image are held, so a
   * file another process is using is refused, not truncated.
   */
  public static FileStorage create(Path path, boolean replace) throws IOException {
    FileChannel channel = replace
        ? FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE, StandardOpenOption.CREATE)
        : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE,
            StandardOpenOption.CREATE_NEW);
    FileStorage storage =
        locked(new FileStorage(path, channel, false, NativeFile.open(path, false)), LockRequest.creating(
            io.qcow4j.disk.Locking.AUTO));
    try {
      storage.truncate(0);
      return storage;
    } catch (IOException | RuntimeException e) {
      storage.close();
      throw e;
    }
  }

  private static FileStorage locked(FileStorage storage, LockRequest lock) throws IOException {
    try {
      ImageLocks.acquire(storage.nativeFile.orElse(null), storage.path, lock);
      storage.lock = lock;
      return storage;
    } catch (IOException | RuntimeException e) {
      storage.close();
      throw e;
    }
  }

  @Override
  public synchronized void takePermission(io.qcow4j.disk.Permission permission) throws IOException {
    ensureOpen();
    if (lock.taken().contains(permission)) {
      return;
    }
    LockRequest wider = lock.taking(permission);
    ImageLocks.widen(nativeFile.orElse(null), path, lock, wider);
    lock = wider;
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

  private interface ChannelCall<T> {
    T apply(FileChannel channel) throws IOException;
  }

  /**
   * Runs a call on the channel. When an interrupt closed the channel, the interrupted call fails
   * and every other call is retried on a channel opened again.
   */
  private <T> T io(ChannelCall<T> call) throws IOException {
    ensureOpen();
    while (true) {
      FileChannel current = channel;
      try {
        return call.apply(current);
      } catch (ClosedByInterruptException e) {
        reopen(current);
        InterruptedIOException interrupted = new InterruptedIOException(path + ": I/O interrupted");
        interrupted.initCause(e);
        throw interrupted;
      } catch (ClosedChannelException e) {
        if (closed) {
          ClosedStorageException named = new ClosedStorageException(path.toString());
          named.initCause(e);
          throw named;
        }
        reopen(current);
      }
    }
  }

  private synchronized void reopen(FileChannel broken) throws IOException {
    if (closed || channel != broken) {
      return;
    }
    channel = readOnly
        ? FileChannel.open(path, StandardOpenOption.READ)
        : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
  }

  @Override
  public long size() throws IOException {
    return io(FileChannel::size);
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    return io(current -> current.read(dst, position));
  }

  /**
   * {@code length} bytes of the file from {@code position}, mapped read-only until {@code arena}
   * closes; empty when the range does not lie inside the file or the file cannot be mapped (a
   * pipe, a character device, a file system without mmap).
   */
  public Optional<MemorySegment> mapReadOnly(long position, long length, Arena arena) throws IOException {
    if (position < 0 || length <= 0) {
      return Optional.empty();
    }
    return io(current -> {
      if (length > current.size() - position) {
        return Optional.empty();
      }
      try {
        return Optional.of(current.map(FileChannel.MapMode.READ_ONLY, position, length, arena));
      } catch (ClosedChannelException e) {
        throw e;
      } catch (IOException | UnsupportedOperationException e) {
        // a file system that cannot map (ENODEV), or no address space left: the caller reads
        return Optional.empty();
      }
    });
  }

  /**
   * {@link #mapReadOnly}, the mapping also remembered as a copy source until {@link #forgetCopySource}
   * or until {@code arena} closes: a {@link #write} of any file storage from a buffer over it is
   * then a copy_file_range from this file, where the kernel can copy between the two files (one
   * copy from page cache to page cache, cheaper in the kernel than a write from mapped memory).
   */
  public Optional<MemorySegment> mapForCopy(long position, long length, Arena arena) throws IOException {
    Optional<MemorySegment> mapping = mapReadOnly(position, length, arena);
    mapping.ifPresent(segment -> COPY_SOURCES.put(segment.address(), new CopySource(segment, this, position)));
    return mapping;
  }

  /** Forgets a mapping made by {@link #mapForCopy} (before its arena closes). */
  public static void forgetCopySource(MemorySegment mapping) {
    COPY_SOURCES.remove(mapping.address());
  }

  /**
   * The mappings of {@link #mapForCopy} by address. An entry is used only while its mapping is
   * alive: a mapping whose arena closed without {@link #forgetCopySource} (a failed copy) is
   * dropped when met, so an address mapped again for something else never reads as that file.
   */
  private static final ConcurrentSkipListMap<Long, CopySource> COPY_SOURCES = new ConcurrentSkipListMap<>();

  private record CopySource(MemorySegment mapping, FileStorage file, long position) {}

  /**
   * Writes {@code src} by copy_file_range when it lies inside a mapping of {@link #mapForCopy} and
   * the kernel copies between the two files; false, with nothing written, otherwise.
   */
  private boolean copiedFromMapping(ByteBuffer src, long position) throws IOException {
    if (COPY_SOURCES.isEmpty() || !src.isDirect() || !src.hasRemaining()) {
      return false;
    }
    long address = MemorySegment.ofBuffer(src).address();
    Map.Entry<Long, CopySource> entry = COPY_SOURCES.floorEntry(address);
    if (entry == null) {
      return false;
    }
    CopySource source = entry.getValue();
    if (!source.mapping().scope().isAlive()) {
      COPY_SOURCES.remove(entry.getKey(), source);
      return false;
    }
    long offset = address - entry.getKey();
    if (offset + src.remaining() > source.mapping().byteSize()) {
      return false;
    }
    long sourcePosition = source.position() + offset;
    int length = src.remaining();
    CopyBehind scope = CopyBehind.current();
    if (scope != null && kernelCopies && source.file().nativeFile.isPresent()) {
      if (closed) {
        throw new ClosedStorageException(path.toString());
      }
      if (readOnly) {
        throw new IOException(path + ": storage is read-only");
      }
      behind = scope;
      // the copy reads the source file, not the mapping, which may be unmapped before it runs
      scope.submit(() -> {
        if (!copyRange(source.file(), sourcePosition, position, length)) {
          throw new IOException(path + ": copy_file_range from " + source.file().path + " at offset " + sourcePosition
              + " refused");
        }
      });
    } else if (!copyFrom(source.file(), sourcePosition, position, length)) {
      return false;
    }
    src.position(src.limit());
    return true;
  }

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    if (copiedFromMapping(src, position)) {
      return;
    }
    int start = src.position();
    io(current -> {
      // A retried call starts over from the first byte: positional writes are idempotent.
      src.position(start);
      long cursor = position;
      while (src.hasRemaining()) {
        cursor += current.write(src, cursor);
      }
      return null;
    });
  }

  @Override
  public long read(ByteBuffer[] dsts, long position) throws IOException {
    ensureOpen();
    if (nativeFile.isEmpty() || !nativeFile.get().hasVectoredCalls()) {
      return Storage.super.read(dsts, position);
    }
    return VectoredTransfer.read(nativeFile.get(), dsts, position);
  }

  @Override
  public void write(ByteBuffer[] srcs, long position) throws IOException {
    ensureOpen();
    if (readOnly) {
      throw new IOException(path + ": storage is read-only");
    }
    if (nativeFile.isEmpty() || !nativeFile.get().hasVectoredCalls()) {
      Storage.super.write(srcs, position);
      return;
    }
    VectoredTransfer.write(nativeFile.get(), srcs, position);
  }

  /**
   * Copies {@code length} bytes of {@code source} from {@code sourcePosition} to this file at
   * {@code position} inside the kernel (copy_file_range: one copy from page cache to page cache,
   * none through the process). False, with nothing copied, when the kernel cannot copy between the
   * two files (another file system, on older kernels); the caller then copies itself. A source
   * that ends before the range does is a failed read.
   */
  public boolean copyFrom(FileStorage source, long sourcePosition, long position, long length) throws IOException {
    ensureOpen();
    if (readOnly) {
      throw new IOException(path + ": storage is read-only");
    }
    if (!copyRange(source, sourcePosition, position, length)) {
      return false;
    }
    kernelCopies = true;
    return true;
  }

  /** {@link #copyFrom} once the storage is known open and writable (a {@link CopyBehind} copy runs it so). */
  private boolean copyRange(FileStorage source, long sourcePosition, long position, long length) throws IOException {
    if (nativeFile.isEmpty() || source.nativeFile.isEmpty()) {
      return false;
    }
    long done = 0;
    while (done < length) {
      long copied = nativeFile.get().copyFileRange(source.nativeFile.get(), sourcePosition + done, position + done,
          length - done);
      if (copied < 0 && done == 0) {
        return false;
      }
      if (copied <= 0) {
        throw new EOFException(source.path + ": copy of " + length + " bytes at offset " + sourcePosition
            + " ended after " + done + " bytes");
      }
      done += copied;
    }
    return true;
  }

  @Override
  public void truncate(long newSize) throws IOException {
    io(current -> {
      long size = current.size();
      if (newSize < size) {
        current.truncate(newSize);
      } else if (newSize > size) {
        // FileChannel.truncate never grows a file; ftruncate (setLength) does, leaving a hole.
        try (java.io.RandomAccessFile file = new java.io.RandomAccessFile(path.toFile(), "rw")) {
          file.setLength(newSize);
        }
      }
      return null;
    });
  }

  /**
   * Makes {@link #force} do nothing from now on, QEMU's {@code cache.no-flush} (cache mode
   * unsafe): what is written reaches the disk when the kernel writes it back. Returns this storage.
   */
  public FileStorage skipFlushes() {
    flushes = false;
    return this;
  }

  /** This storage with flushes skipped when {@code options} say so ({@link io.qcow4j.disk.OpenOptions#flushes()}). */
  public FileStorage flushingAs(io.qcow4j.disk.OpenOptions options) {
    return options.flushes() ? this : skipFlushes();
  }

  @Override
  public void force(boolean metadata) throws IOException {
    if (!flushes) {
      ensureOpen();
      return;
    }
    io(current -> {
      current.force(metadata);
      return null;
    });
  }

  @Override
  public void punchHole(long position, long length) throws IOException {
    long end = Math.min(position + length, size());
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
    ensureOpen();
    if (nativeFile.isPresent() && nativeFile.get().fallocate(NativeFile.ZERO_RANGE, position, length)) {
      return;
    }
    writeZeros(position, length);
  }

  @Override
  public boolean zeroRangeWithoutFallback(long position, long length) throws IOException {
    ensureOpen();
    return length > 0 && nativeFile.isPresent() && nativeFile.get().fallocate(NativeFile.ZERO_RANGE, position, length);
  }

  @Override
  public void allocate(long position, long length) throws IOException {
    if (length <= 0) {
      return;
    }
    ensureOpen();
    if (nativeFile.isPresent() && nativeFile.get().fallocate(0, position, length)) {
      return;
    }
    // Without fallocate, growing the file is all that can be promised: existing bytes stay.
    if (size() < position + length) {
      truncate(position + length);
    }
  }

  @Override
  public long nextData(long position) throws IOException {
    long size = size();
    if (position >= size) {
      return Long.MAX_VALUE;
    }
    if (nativeFile.isEmpty()) {
      return position;
    }
    long found = nativeFile.get().seekData(position);
    // ENXIO (no data up to the end) comes back as -1 too
    return found < 0 ? Long.MAX_VALUE : found;
  }

  @Override
  public long nextHole(long position) throws IOException {
    long size = size();
    if (position >= size || nativeFile.isEmpty()) {
      return Math.max(position, size);
    }
    long found = nativeFile.get().seekHole(position);
    return found < 0 ? size : found;
  }

  /** Refuses new calls, waits for the native ones in flight, then closes both descriptors. */
  @Override
  public synchronized void close() throws IOException {
    try {
      settle();
    } finally {
      closed = true;
      nativeFile.ifPresent(NativeFile::close);
      channel.close();
    }
  }

  /** Fails when closed; else first waits for the copies of a {@link CopyBehind} in flight into this file. */
  private void ensureOpen() throws IOException {
    if (closed) {
      throw new ClosedStorageException(path.toString());
    }
    settle();
  }

  private void settle() throws IOException {
    CopyBehind scope = behind;
    if (scope != null) {
      scope.drain();
    }
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
