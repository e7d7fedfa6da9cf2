package io.qcow4j.storage;

import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Positional I/O on one host file: the only seam through which the engine touches bytes on disk.
 * Implementations are thread-safe for positional calls.
 */
public interface Storage extends Closeable {

  /** A name for messages: the host path, or a label for in-memory storage. */
  String name();

  /** Whether writes are refused. */
  boolean isReadOnly();

  /** The current size of the host file in bytes. */
  long size() throws IOException;

  /** Reads up to {@code dst.remaining()} bytes at {@code position}; -1 at or past the end. */
  int read(ByteBuffer dst, long position) throws IOException;

  /** Writes all of {@code src} at {@code position}, growing the file when needed. */
  void write(ByteBuffer src, long position) throws IOException;

  /** Sets the file's size, cutting or extending it with zeros. */
  void truncate(long newSize) throws IOException;

  /**
   * Makes the storage at least {@code minimum} bytes long (QEMU's truncate that need not be exact,
   * as creating an image on an existing node does): by default it grows the file when shorter;
   * storage that cannot grow refuses in its own words.
   */
  default void ensureSize(long minimum) throws IOException {
    if (size() < minimum) {
      truncate(minimum);
    }
  }

  /** Makes every completed write durable (fdatasync, or fsync when {@code metadata}). */
  void force(boolean metadata) throws IOException;

  /** Releases the host space of the range, which then reads as zeros; the size does not change. */
  void punchHole(long position, long length) throws IOException;

  /** Makes the range read as zeros, keeping or allocating its space; may grow the file. */
  void zeroRange(long position, long length) throws IOException;

  /**
   * Makes the range read as zeros only where that is cheap (a host file's fallocate zero range),
   * as QEMU's write-zeroes with BDRV_REQ_NO_FALLBACK; may grow the file. Returns false, having
   * changed nothing, where it is not; by default it never is.
   */
  default boolean zeroRangeWithoutFallback(long position, long length) throws IOException {
    return false;
  }

  /** Reserves host space for the range without changing what it reads; may grow the file. */
  void allocate(long position, long length) throws IOException;

  /**
   * Takes one more image-lock permission (a raw image's resize) while the storage is open; an
   * {@link io.qcow4j.disk.ImageLockedException} when another user does not share it. Storage that
   * takes no locks has nothing to do.
   */
  default void takePermission(io.qcow4j.disk.Permission permission) throws IOException {}

  /**
   * The name QEMU gives this node (its bs->filename) when the storage is no host file, as an NBD
   * export's "nbd+unix:///EXPORT?socket=PATH"; null for a host file, named by its path.
   */
  default String nodeFilename() {
    return null;
  }

  /**
   * Whether QEMU's driver of this node answers bdrv_get_info (a host file's does, an NBD export's
   * and null-co's do not): without it, qemu-img info prints no dirty flag for a raw image over the
   * node and qemu-io's info stops after the format name.
   */
  default boolean hasDriverInfo() {
    return true;
  }

  /**
   * The bytes the storage takes on its host, qemu-img info's "disk size", for storage that is no
   * host file: -1 when the protocol cannot tell (NBD; "unavailable"); 0 by default.
   */
  default long allocatedBytes() throws IOException {
    return 0;
  }

  /**
   * Tells the storage that the layer above reached one of QEMU's blkdebug events ("read_aio",
   * "write_aio", "l2_load", "cluster_alloc"..., the names of BlkdebugEvent), just before the I/O
   * that follows it: blkdebug arms its rules on them. Storage that is no debug node ignores it;
   * one that wraps another passes it on.
   */
  default void debugEvent(String event) {}

  /**
   * The breakpoints of the first blkdebug node at or below this storage (QEMU looks down the
   * primary children); null when there is none.
   */
  default DebugBreakpoints debugBreakpoints() {
    return null;
  }

  /**
   * The first offset at or after {@code position} that may hold data (SEEK_DATA); Long.MAX_VALUE
   * when none does, as past the end of the file.
   */
  default long nextData(long position) throws IOException {
    return position < size() ? position : Long.MAX_VALUE;
  }

  /**
   * The first offset at or after {@code position} that is surely a hole (SEEK_HOLE): the end of
   * the file if none is before it; {@code position} itself past the end.
   */
  default long nextHole(long position) throws IOException {
    return Math.max(position, size());
  }

  /**
   * The status of the bytes from {@code position} (inside the file), at most {@code maxLength} of
   * them: by default holes ({@link #nextData}) read as zeros without data, the rest is data up to
   * the next hole. Protocols that know more (NBD's block status) say so here.
   */
  default StorageStatus status(long position, long maxLength) throws IOException {
    long end = position + maxLength;
    long nextData = nextData(position);
    if (nextData > position) {
      return new StorageStatus(Math.min(end, nextData) - position, false, true);
    }
    long nextHole = Math.max(nextHole(position), position + 1);
    return new StorageStatus(Math.min(end, nextHole) - position, true, false);
  }

  /** Fills {@code dst} from {@code position}, or throws {@link EOFException} naming the file. */
  default void readFully(ByteBuffer dst, long position) throws IOException {
    long cursor = position;
    while (dst.hasRemaining()) {
      int count = read(dst, cursor);
      if (count < 0) {
        throw new EOFException(name() + ": read of " + dst.remaining() + " bytes at offset " + cursor
            + " is past the end of the file (" + size() + " bytes)");
      }
      cursor += count;
    }
  }

  /** Fills {@code dst} from {@code position}; what lies past the end of the file reads as zeros. */
  default void readOrZero(ByteBuffer dst, long position) throws IOException {
    long cursor = position;
    while (dst.hasRemaining()) {
      int count = read(dst, cursor);
      if (count < 0) {
        while (dst.hasRemaining()) {
          dst.put((byte) 0);
        }
        return;
      }
      cursor += count;
    }
  }

  /**
   * Reads into the buffers in order from one contiguous range starting at {@code position}, until
   * they are all full or the file ends, advancing their positions: the count read, short only at
   * the end of the file, or -1 when a buffer had room and {@code position} is at or past the end.
   * The storage of host files makes it one preadv per 1024 buffers.
   */
  default long read(ByteBuffer[] dsts, long position) throws IOException {
    long total = 0;
    boolean wanted = false;
    for (ByteBuffer dst : dsts) {
      while (dst.hasRemaining()) {
        wanted = true;
        int count = read(dst, position + total);
        if (count <= 0) {
          return total == 0 ? -1 : total;
        }
        total += count;
      }
    }
    return total == 0 && wanted ? -1 : total;
  }

  /** Fills the buffers in order from {@code position}, or throws {@link EOFException} naming the file. */
  default void readFully(ByteBuffer[] dsts, long position) throws IOException {
    long wanted = 0;
    for (ByteBuffer dst : dsts) {
      wanted += dst.remaining();
    }
    long count = Math.max(0, read(dsts, position));
    if (count < wanted) {
      throw new EOFException(name() + ": read of " + wanted + " bytes at offset " + position
          + " is past the end of the file (" + size() + " bytes)");
    }
  }

  /** Reads the buffers in order from one contiguous range, zeros past the end, as few calls as the host allows. */
  default void readOrZero(ByteBuffer[] dsts, long position) throws IOException {
    read(dsts, position);
    for (ByteBuffer dst : dsts) {
      while (dst.hasRemaining()) {
        dst.put((byte) 0);
      }
    }
  }

  /**
   * Writes all of the buffers in order to one contiguous range starting at {@code position},
   * advancing their positions. The storage of host files makes it one pwritev per 1024 buffers.
   */
  default void write(ByteBuffer[] srcs, long position) throws IOException {
    long cursor = position;
    for (ByteBuffer src : srcs) {
      int count = src.remaining();
      write(src, cursor);
      cursor += count;
    }
  }
}
