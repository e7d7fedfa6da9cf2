package io.qcow4j.nbd;

import io.qcow4j.disk.ReadOnlyImageException;
import io.qcow4j.storage.Storage;
import io.qcow4j.storage.StorageStatus;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * An NBD export as {@link Storage}, QEMU's nbd protocol node: reads, writes, flush, trim and
 * write-zeroes go to the server (split at its largest payload); the size is the export's and
 * cannot change ("Cannot resize NBD nodes"); holes are what the negotiated metadata context says
 * (base:allocation, or the x-dirty-bitmap context read the same way). Thread-safe, as the client is.
 */
public final class NbdStorage implements Storage {
  private final NbdClient client;
  private final NbdTarget target;
  private final boolean readOnly;

  private NbdStorage(NbdClient client, NbdTarget target, boolean readOnly) {
    this.client = client;
    this.target = target;
    this.readOnly = readOnly;
  }

  /**
   * Connects to {@code target}; a read-write open of a read-only export is refused as QEMU
   * refuses it, unless {@code autoReadOnly} lets it fall back to reading only.
   */
  public static NbdStorage open(NbdTarget target, boolean readOnly, boolean autoReadOnly) throws IOException {
    NbdClient client = NbdClient.connect(target.address(), target.exportName(), target.dirtyBitmap());
    boolean exportReadOnly = client.info().readOnly();
    if (exportReadOnly && !readOnly && !autoReadOnly) {
      client.close();
      throw new IOException("NBD export is read-only");
    }
    return new NbdStorage(client, target, readOnly || exportReadOnly);
  }

  /** The connection under this storage. */
  public NbdClient client() {
    return client;
  }

  /** What this storage is connected to. */
  public NbdTarget target() {
    return target;
  }

  @Override
  public String name() {
    return target.uri();
  }

  @Override
  public String nodeFilename() {
    return target.uri();
  }

  /** QEMU's nbd driver has no bdrv_get_info. */
  @Override
  public boolean hasDriverInfo() {
    return false;
  }

  /** NBD cannot tell how much the export takes on the server's disk. */
  @Override
  public long allocatedBytes() {
    return -1;
  }

  @Override
  public boolean isReadOnly() {
    return readOnly;
  }

  @Override
  public long size() {
    return client.size();
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    long size = client.size();
    if (position >= size) {
      return dst.hasRemaining() ? -1 : 0;
    }
    int count = (int) Math.min(Math.min(dst.remaining(), size - position), client.maxPayload());
    ByteBuffer part = dst.slice().limit(count);
    client.read(part, position);
    dst.position(dst.position() + count);
    return count;
  }

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    ensureWritable();
    checkInside(position, src.remaining());
    int max = client.maxPayload();
    long cursor = position;
    while (src.hasRemaining()) {
      int count = Math.min(src.remaining(), max);
      ByteBuffer part = src.slice().limit(count);
      client.write(part, cursor, false);
      src.position(src.position() + count);
      cursor += count;
    }
  }

  /** An export's size is the server's: an exact resize to another size is refused as QEMU refuses it. */
  @Override
  public void truncate(long newSize) throws IOException {
    if (newSize != client.size()) {
      throw new IOException("Cannot resize NBD nodes");
    }
  }

  /** QEMU's non-exact truncate of an NBD node: nothing to do up to its size, refused past it. */
  @Override
  public void ensureSize(long minimum) throws IOException {
    if (minimum > client.size()) {
      throw new IOException("Cannot grow NBD nodes");
    }
  }

  @Override
  public void force(boolean metadata) throws IOException {
    if (!readOnly) {
      client.flush();
    }
  }

  @Override
  public void punchHole(long position, long length) throws IOException {
    ensureWritable();
    checkInside(position, length);
    client.trim(position, length);
  }

  @Override
  public void zeroRange(long position, long length) throws IOException {
    ensureWritable();
    checkInside(position, length);
    client.writeZeroes(position, length, false);
  }

  @Override
  public void allocate(long position, long length) throws IOException {
    ensureWritable();
    checkInside(position, length);
  }

  /** The first offset at or after {@code position} whose status is not a hole. */
  @Override
  public long nextData(long position) throws IOException {
    long size = client.size();
    for (long cursor = position; cursor < size; ) {
      NbdClient.Status status = client.blockStatus(cursor, size - cursor);
      if (status == null || !status.hole()) {
        return cursor;
      }
      cursor += status.length();
    }
    return Long.MAX_VALUE;
  }

  /** The first offset at or after {@code position} whose status is a hole; the size when none is. */
  @Override
  public long nextHole(long position) throws IOException {
    long size = client.size();
    for (long cursor = position; cursor < size; ) {
      NbdClient.Status status = client.blockStatus(cursor, size - cursor);
      if (status == null) {
        return size;
      }
      if (status.hole()) {
        return cursor;
      }
      cursor += status.length();
    }
    return Math.max(position, size);
  }

  /**
   * The status of the bytes from {@code position}, at most {@code maxLength} of them, as QEMU's nbd
   * driver reports it: data unless the context's bit 0 (a hole) is set, zero when bit 1 is; all
   * data when no context was negotiated.
   */
  @Override
  public StorageStatus status(long position, long maxLength) throws IOException {
    NbdClient.Status status = client.blockStatus(position, maxLength);
    if (status == null) {
      return new StorageStatus(Math.min(maxLength, client.size() - position), true, false);
    }
    return new StorageStatus(status.length(), !status.hole(), status.zero());
  }

  private void ensureWritable() throws IOException {
    if (readOnly) {
      throw new ReadOnlyImageException(name() + ": the NBD export is open read-only");
    }
  }

  private void checkInside(long position, long length) throws IOException {
    if (position < 0 || length < 0 || position + length > client.size()) {
      // QEMU's block layer refuses a request past the end of a node that cannot grow with EINVAL
      throw new NbdErrorException(Protocol.EINVAL, new IOException(name() + ": " + length + " bytes at offset "
          + position + " lie past the end of the export (" + client.size() + " bytes)"));
    }
  }

  @Override
  public void close() throws IOException {
    client.close();
  }

  @Override
  public String toString() {
    return "NbdStorage[" + name() + "]";
  }
}
