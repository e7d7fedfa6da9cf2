package io.qcow4j.disk;

import io.qcow4j.internal.Arguments;
import io.qcow4j.internal.storage.FileStorage;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;

/**
 * A virtual disk: positional, vectored, thread-safe reads and writes over a guest address space of
 * {@link #size()} bytes, with the block-device operations (flush, discard, write-zeroes, resize).
 *
 * <p>Reads at or past the end return -1; reads that cross the end are short. Writes must lie inside
 * the disk: a write that crosses the end fails and writes nothing.
 */
public interface DiskFile extends Closeable {

  /** The virtual size of the disk in bytes. */
  long size() throws IOException;

  /** The format of this layer of the image. */
  ImageFormat format();

  /** Whether writes are refused. */
  boolean isReadOnly();

  /**
   * The name of the driver at the top of this disk as QEMU's tools print it ("format name",
   * "file format"): the format's, or a protocol's or filter's opened without a format ("null-co",
   * "blkdebug", "copy-on-read").
   */
  default String driverName() {
    return format().id();
  }

  /**
   * Whether QEMU's drivers of this image answer bdrv_get_info (false for a raw image over an NBD
   * export, whose protocol does not): qemu-img info then prints no dirty flag.
   */
  default boolean hasDriverInfo() {
    return true;
  }

  /**
   * The name QEMU gives the image when it is no host file's path (a raw image over an NBD export:
   * "nbd://HOST:PORT/EXPORT"); null for images in host files.
   */
  default String nodeFilename() {
    return null;
  }

  /**
   * The breakpoints of the first blkdebug node under this image (QEMU's bdrv_debug_breakpoint
   * looks down the primary children); null when there is none.
   */
  default io.qcow4j.storage.DebugBreakpoints debugBreakpoints() {
    return null;
  }

  /** Reads up to {@code dst.remaining()} bytes at {@code position}; -1 at or past the end. */
  int read(ByteBuffer dst, long position) throws IOException;

  /** Reads into the buffers in order, as one contiguous range; -1 at or past the end. */
  default long read(ByteBuffer[] dsts, long position) throws IOException {
    Arguments.buffers(this::describe, dsts);
    long total = 0;
    for (ByteBuffer dst : dsts) {
      if (!dst.hasRemaining()) {
        continue;
      }
      int wanted = dst.remaining();
      int count = read(dst, position + total);
      if (count < 0) {
        return total == 0 ? -1 : total;
      }
      total += count;
      if (count < wanted) {
        break;
      }
    }
    return total;
  }

  /** The first file of the disk, or what it is, for messages. */
  private String describe() {
    List<Path> files = files();
    return files.isEmpty() ? format().id() + " disk" : files.getFirst().toString();
  }

  /** Fills {@code dst} from {@code position}; throws {@link EOFException} if the disk ends first. */
  default void readFully(ByteBuffer dst, long position) throws IOException {
    long cursor = position;
    while (dst.hasRemaining()) {
      int count = read(dst, cursor);
      if (count < 0) {
        throw new EOFException("Read of " + dst.remaining() + " bytes at offset " + cursor
            + " crosses the end of the disk (" + size() + " bytes)");
      }
      cursor += count;
    }
  }

  /**
   * The guest bytes from {@code offset} to {@code offset + length} as read-only memory mapped from
   * the local host file that holds them byte for byte, valid until {@code arena} closes; empty when
   * the disk does not keep the range so (a format's own layout, encryption, the zero tail past the
   * end of a raw file, storage that is not a local file). A reader that maps rather than reads
   * saves the kernel's copy of the bytes into its buffer. The mapping shows the host file as it is
   * while it is read: after the range is written, or the file shrinks, it no longer shows the
   * guest's bytes; a read of a mapping past the end of a shrunk file fails with
   * {@link InternalError}, which callers turn into an I/O error.
   */
  default Optional<MemorySegment> mapped(long offset, long length, Arena arena) throws IOException {
    Optional<HostRange> range = hostRange(offset, length);
    if (range.isEmpty() || !(range.get().storage() instanceof FileStorage file)) {
      return Optional.empty();
    }
    return file.mapReadOnly(range.get().offset(), length, arena);
  }

  /**
   * Where the guest bytes from {@code offset} to {@code offset + length} lie byte for byte and
   * contiguous in one host file (the same ranges {@link #mapped} maps, whatever the storage): a
   * copy of the range can then go from that file to another inside the kernel. Empty when the
   * disk does not keep the range so. The answer holds until the disk is written.
   */
  default Optional<HostRange> hostRange(long offset, long length) throws IOException {
    return Optional.empty();
  }

  /** Writes all of {@code src} at {@code position} and returns the count written. */
  int write(ByteBuffer src, long position) throws IOException;

  /** Writes the buffers in order as one contiguous range and returns the count written. */
  default long write(ByteBuffer[] srcs, long position) throws IOException {
    Arguments.buffers(this::describe, srcs);
    long length = 0;
    for (ByteBuffer src : srcs) {
      length += src.remaining();
    }
    Arguments.range(this::describe, position, length, size());
    long total = 0;
    for (ByteBuffer src : srcs) {
      total += write(src, position + total);
    }
    return total;
  }

  /** Writes all of {@code src} at {@code position}. */
  default void writeFully(ByteBuffer src, long position) throws IOException {
    long cursor = position;
    while (src.hasRemaining()) {
      cursor += write(src, cursor);
    }
  }

  /**
   * Writes dirty metadata to the host file in the safe order. The barriers that order it are
   * fdatasyncs, so metadata it wrote is durable when it returns; guest data written in place since
   * the last barrier is durable only after {@link #force}.
   */
  void flush() throws IOException;

  /** Flushes, then makes everything written so far durable (fdatasync, or fsync with metadata). */
  void force(boolean metadata) throws IOException;

  /**
   * Discards the range as a hint, as QEMU's driver of the format does: a raw file punches it; qcow2
   * deallocates whole clusters (reading as zeros on version 3 and without a backing file) and leaves
   * partial clusters, and a version 2 image over a backing file, as they are.
   */
  void discard(long offset, long length) throws IOException;

  /** Makes the range read as zeros, without allocating where the format allows. */
  void writeZeroes(long offset, long length) throws IOException;

  /** Allocates host space for the range, keeping its content. */
  void allocate(long offset, long length) throws IOException;

  /** Changes the virtual size; shrinking deletes what lies past the new end (refused by a qcow2 image with snapshots). */
  void resize(long newSize) throws IOException;

  /**
   * The allocation status of the longest range starting at {@code offset}, at most {@code maxLength}
   * bytes and not past the end, whose status is uniform, resolved down the backing chain.
   */
  Extent blockStatus(long offset, long maxLength) throws IOException;

  /** What qemu-img info reports about this layer. */
  ImageInfo info() throws IOException;

  /**
   * Like {@link #writeZeroes}, and may also give back the host space of units that become wholly
   * zero (qemu-io's write -z -u, an NBD write-zeroes without NO_HOLE); by default as writeZeroes.
   */
  default void writeZeroesUnmap(long offset, long length) throws IOException {
    writeZeroes(offset, length);
  }

  /**
   * Whether {@link #writeZeroes} costs less than writing zero bytes (NBD's fast-zero promise): true
   * for raw files (fallocate) and qcow2 v3 images (the zero flag), false for qcow2 v2.
   */
  default boolean hasFastZeroes() {
    return false;
  }

  /**
   * Reads from the VM state area at {@code position} (qemu-io read -b: the state a snapshot of a
   * running machine saves, which qcow2 keeps past the guest disk); a format without one refuses with
   * {@link UnsupportedFeatureException}. Fills {@code dst} whole.
   */
  default void readVmState(ByteBuffer dst, long position) throws IOException {
    throw new UnsupportedFeatureException(describe() + ": Operation not supported");
  }

  /**
   * Writes {@code src} whole into the VM state area at {@code position} (qemu-io write -b); a
   * format without one refuses with {@link UnsupportedFeatureException}.
   */
  default void writeVmState(ByteBuffer src, long position) throws IOException {
    throw new UnsupportedFeatureException(describe() + ": Operation not supported");
  }

  /** The internal snapshots of this layer in table order, as qemu-img snapshot -l lists them; none for raw. */
  default List<SnapshotInfo> snapshots() throws IOException {
    return List.of();
  }

  /**
   * Creates an internal snapshot of the current state named {@code name} (qemu-img snapshot -c) and
   * returns it; a format without internal snapshots refuses with {@link UnsupportedFeatureException}.
   */
  default SnapshotInfo createSnapshot(String name) throws IOException {
    throw new UnsupportedFeatureException(describe() + ": Operation not supported");
  }

  /**
   * Reverts the disk to the snapshot with this id, else the first with this name (qemu-img
   * snapshot -a); a format without internal snapshots refuses with {@link UnsupportedFeatureException}.
   */
  default void applySnapshot(String nameOrId) throws IOException {
    throw new UnsupportedFeatureException(describe() + ": Block driver does not support snapshots");
  }

  /**
   * Deletes the snapshot with this id, else the first with this name (qemu-img snapshot -d);
   * {@link NoSuchFileException} when there is none, as always on a format without internal snapshots.
   */
  default void deleteSnapshot(String nameOrId) throws IOException {
    throw new NoSuchFileException(describe(), null, "snapshot '" + nameOrId + "' not found");
  }

  /**
   * Checks this layer like qemu-img check, repairing what {@code repair} allows (read-write images
   * only); a format without checks refuses with {@link UnsupportedFeatureException}.
   */
  default CheckResult check(CheckResult.Repair repair) throws IOException {
    throw new UnsupportedFeatureException(describe() + ": This image format does not support checks");
  }

  /**
   * Changes what qemu-img amend changes (compat level, lazy refcounts, refcount width, size); a
   * format without amendable options refuses with {@link UnsupportedFeatureException}.
   */
  default void amend(AmendOptions options) throws IOException {
    throw new UnsupportedFeatureException(
        describe() + ": Format driver '" + format().id() + "' does not support option amendment");
  }

  /**
   * As {@link #amend(AmendOptions)}, reporting its progress to {@code progress} as qemu-img's amend
   * sees it (a format that reports none only amends).
   */
  default void amend(AmendOptions options, AmendProgress progress) throws IOException {
    amend(options);
  }

  /** The backing disk this one reads through, if any. */
  Optional<DiskFile> backing();

  /** The host paths of this image: its file, its data file, then its chain's files. */
  List<Path> files();

  /** A channel with its own position over this disk; closing it leaves the disk open. */
  default DiskChannel channel() {
    return new DiskChannel(this);
  }

  /** An input stream from the start of the disk; closing it leaves the disk open. */
  default InputStream inputStream() {
    return Channels.newInputStream(channel());
  }

  /** An output stream that writes from the start of the disk; closing it leaves the disk open. */
  default OutputStream outputStream() {
    return Channels.newOutputStream(channel());
  }

  /** An asynchronous view running every operation on {@code executor}. */
  default AsyncDiskFile async(Executor executor) {
    return new AsyncDiskFile(this, executor);
  }

  /** An asynchronous view running every operation on its own virtual thread. */
  default AsyncDiskFile async() {
    return async(Executors.newVirtualThreadPerTaskExecutor());
  }
}
