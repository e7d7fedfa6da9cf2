package io.qcow4j.disk;

import io.qcow4j.internal.Arguments;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.internal.storage.HostFiles;
import io.qcow4j.internal.storage.LockRequest;
import io.qcow4j.probe.FormatProber;
import io.qcow4j.storage.Storage;
import io.qcow4j.storage.StorageStatus;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * A raw disk image: guest offset N is byte N of the host file; holes read as zeros. The disk is
 * the file rounded up to whole 512-byte sectors, as QEMU's block layer sees it: the tail past the
 * end of the file reads as zeros and a write there extends the file. Opened by probing, it refuses, as QEMU does, any write that would make its first sector probe as another format.
 */
public final class RawDiskFile implements DiskFile {
  private static final long SECTOR_BYTES = 512;
  private final Storage storage;
  private final Path path;
  /** Whether the format was found by probing (QEMU's bs->probed): then the first sector is guarded. */
  private final boolean probed;
  /** Opened as with O_DIRECT (cache.direct=on): block status covers whole sectors. */
  private final boolean wholeSectors;
  /** Serializes changes of a probed image's first sector, so each is checked against the sector it changes. */
  private final Object firstSectorLock = new Object();
  /** The disk's size (the file's, in whole sectors), read once: a raw disk changes size only through {@link #resize}. */
  private volatile long size;
  private volatile boolean closed;

  /** Wraps storage; {@code path} (nullable) is reported by {@link #files()} and {@link #blockStatus}. */
  public RawDiskFile(Storage storage, Path path) throws IOException {
    this(storage, path, false);
  }

  private RawDiskFile(Storage storage, Path path, boolean probed) throws IOException {
    this(storage, path, probed, false);
  }

  private RawDiskFile(Storage storage, Path path, boolean probed, boolean wholeSectors) throws IOException {
    this.storage = storage;
    this.path = path;
    this.probed = probed;
    this.wholeSectors = wholeSectors;
    this.size = sectorAligned(storage.size());
  }

  /**
   * Wraps storage whose format was found by probing (an NBD export named without a format): its
   * first sector is guarded as {@link #openProbed(Path, OpenOptions)} guards a file's.
   */
  public static RawDiskFile probed(Storage storage, Path path) throws IOException {
    return new RawDiskFile(storage, path, true);
  }

  /** {@code bytes} rounded up to whole 512-byte sectors: the size QEMU gives a raw file of that length. */
  private static long sectorAligned(long bytes) {
    return (bytes + SECTOR_BYTES - 1) & -SECTOR_BYTES;
  }

  /** Opens a raw image file, taking the image locks of a default open. */
  public static RawDiskFile open(Path path, boolean readOnly) throws IOException {
    return open(path, OpenOptions.readOnlyDefaults().withReadOnly(readOnly));
  }

  /** Opens a raw image file with the access and image locks {@code options} ask for. */
  public static RawDiskFile open(Path path, OpenOptions options) throws IOException {
    refuseSnapshot(path, options);
    return new RawDiskFile(FileStorage.open(path, options.readOnly(), LockRequest.forRawImage(options)).flushingAs(options), path,
        false, options.directIo());
  }

  /**
   * Opens a raw image file whose format was found by probing: a write, zeroing or discard that would
   * make the first {@link FormatProber#PROBE_BYTES} bytes probe as another format fails with
   * {@link ProbedRawWriteException} (QEMU's raw_co_pwritev on a probed image).
   */
  public static RawDiskFile openProbed(Path path, OpenOptions options) throws IOException {
    refuseSnapshot(path, options);
    return new RawDiskFile(FileStorage.open(path, options.readOnly(), LockRequest.forRawImage(options)).flushingAs(options), path,
        true, options.directIo());
  }

  /** As {@link #openProbed(Path, OpenOptions)} with the image locks of a default open. */
  public static RawDiskFile openProbed(Path path, boolean readOnly) throws IOException {
    return openProbed(path, OpenOptions.readOnlyDefaults().withReadOnly(readOnly));
  }

  /** A raw image has no internal snapshots to read as (QEMU's words). */
  private static void refuseSnapshot(Path path, OpenOptions options) throws SnapshotLoadException {
    if (options.snapshot() != null) {
      throw new SnapshotLoadException(String.valueOf(path), "Block format 'raw' used by device '' does not support "
          + "temporarily loading internal snapshots");
    }
  }

  /** Whether the format was found by probing, so writes that would change it are refused. */
  public boolean probed() {
    return probed;
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.RAW;
  }

  @Override
  public boolean isReadOnly() {
    return storage.isReadOnly();
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    ensureOpen();
    Arguments.notNull(name(), dst, "buffer");
    Arguments.position(name(), position);
    long size = this.size;
    if (position >= size) {
      return dst.hasRemaining() ? -1 : 0;
    }
    int count = (int) Math.min(dst.remaining(), size - position);
    ByteBuffer window = dst.slice(dst.position(), count);
    storage.debugEvent("read_aio");
    storage.readOrZero(window, position);
    dst.position(dst.position() + count);
    return count;
  }

  /** A range of the host file, when the range lies inside it. */
  @Override
  public Optional<HostRange> hostRange(long offset, long length) throws IOException {
    ensureOpen();
    if (offset < 0 || length <= 0 || length > size - offset) {
      return Optional.empty();
    }
    // past the end of the host file the disk reads as zeros the file does not hold
    return offset + length > storage.size() ? Optional.empty() : Optional.of(new HostRange(storage, offset));
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    Arguments.notNull(name(), src, "buffer");
    int count = src.remaining();
    checkWrite(position, count);
    storage.debugEvent("write_aio");
    if (guardsFirstSector(position, count)) {
      int headCount = (int) Math.min(count, FormatProber.PROBE_BYTES - position);
      synchronized (firstSectorLock) {
        byte[] sector = firstSector();
        src.get(src.position(), sector, (int) position, headCount);
        refuseFormatChange(sector);
        // the checked copy is written: the caller's buffer may change meanwhile
        storage.write(ByteBuffer.wrap(sector, (int) position, headCount), position);
      }
      src.position(src.position() + headCount);
      position += headCount;
    }
    if (src.hasRemaining()) {
      storage.write(src, position);
    }
    return count;
  }

  @Override
  public void flush() throws IOException {
    // Raw images keep no metadata of their own.
    ensureOpen();
  }

  @Override
  public void force(boolean metadata) throws IOException {
    ensureOpen();
    storage.force(metadata);
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    checkWrite(offset, length);
    zeroing(offset, length, () -> storage.punchHole(offset, length));
  }

  @Override
  public void writeZeroes(long offset, long length) throws IOException {
    checkWrite(offset, length);
    zeroing(offset, length, () -> storage.zeroRange(offset, length));
  }

  /**
   * Zeroes the range by punching a hole, the file's size kept, as QEMU's file driver zeroes with
   * MAY_UNMAP on a node opened with discard=unmap (handle_aiocb_write_zeroes_unmap): qemu-img
   * convert -n leaves the source's zero ranges as holes in a raw target, qemu-io write -z -u too.
   * Where the file system cannot punch holes the zeros are written.
   */
  @Override
  public void writeZeroesUnmap(long offset, long length) throws IOException {
    checkWrite(offset, length);
    zeroing(offset, length, () -> storage.punchHole(offset, length));
  }

  /** True: a raw file zeroes with fallocate. */
  @Override
  public boolean hasFastZeroes() {
    return true;
  }

  @Override
  public void allocate(long offset, long length) throws IOException {
    checkWrite(offset, length);
    storage.allocate(offset, length);
  }

  @Override
  public void resize(long newSize) throws IOException {
    if (newSize < 0) {
      throw new IllegalArgumentException(name() + ": negative size " + newSize);
    }
    ensureWritable();
    storage.takePermission(Permission.RESIZE);
    storage.truncate(newSize);
    size = sectorAligned(newSize);
  }

  @Override
  public Extent blockStatus(long offset, long maxLength) throws IOException {
    ensureOpen();
    long size = this.size;
    if (offset < 0 || offset >= size || maxLength <= 0) {
      throw new IllegalArgumentException(name() + ": block status at " + offset + " outside the disk (" + size + " bytes)");
    }
    long end = offset + Math.min(maxLength, size - offset);
    long fileSize = size - offset <= SECTOR_BYTES ? storage.size() : size;
    if (offset >= fileSize) {
      // the tail of the last sector, past the end of the file
      return new Extent(offset, end - offset, 0, true, true, false, false, offset, path);
    }
    end = Math.min(end, fileSize);
    StorageStatus status = storage.status(offset, end - offset);
    long length = Math.min(status.length(), end - offset);
    if (wholeSectors && status.data() && offset + length < size && offset + length >= size - SECTOR_BYTES
        && offset + length == storage.size()) {
      // QEMU's file driver rounds a data extent that ends in the file's last partial sector up to
      // its request alignment (a sector or more with O_DIRECT); the disk ends at that sector's end
      length = Math.min(size, offset + maxLength) - offset;
    }
    // a run neither data nor zero is unallocated at the protocol level: QEMU's map gives no offset
    boolean present = status.data() || status.zero();
    return new Extent(offset, length, 0, present, status.zero(), status.data(), false, present ? offset : -1, path);
  }

  @Override
  public ImageInfo info() throws IOException {
    ensureOpen();
    long allocated = path != null ? HostFiles.allocatedBytes(path) : storage.allocatedBytes();
    return new ImageInfo(path, ImageFormat.RAW, size, allocated, null, null, null);
  }

  @Override
  public boolean hasDriverInfo() {
    return storage.hasDriverInfo();
  }

  @Override
  public String nodeFilename() {
    return path == null ? storage.nodeFilename() : null;
  }

  @Override
  public io.qcow4j.storage.DebugBreakpoints debugBreakpoints() {
    return storage.debugBreakpoints();
  }

  @Override
  public Optional<DiskFile> backing() {
    return Optional.empty();
  }

  @Override
  public List<Path> files() {
    return path == null ? List.of() : List.of(path);
  }

  @Override
  public void close() throws IOException {
    closed = true;
    storage.close();
  }

  private String name() {
    return storage.name();
  }

  /** A change that makes a range read as zeros. */
  private interface ZeroingChange {
    void apply() throws IOException;
  }

  /** Applies {@code change} of the range, checked first if it reaches into a guarded first sector. */
  private void zeroing(long offset, long length, ZeroingChange change) throws IOException {
    if (!guardsFirstSector(offset, length)) {
      change.apply();
      return;
    }
    synchronized (firstSectorLock) {
      byte[] sector = firstSector();
      Arrays.fill(sector, (int) offset, (int) Math.min(FormatProber.PROBE_BYTES, offset + length), (byte) 0);
      refuseFormatChange(sector);
      change.apply();
    }
  }

  private boolean guardsFirstSector(long offset, long length) {
    return probed && offset < FormatProber.PROBE_BYTES && length > 0;
  }

  /** The first sector as probing sees it: what lies past the end of the file reads as zeros. */
  private byte[] firstSector() throws IOException {
    byte[] sector = new byte[FormatProber.PROBE_BYTES];
    storage.readOrZero(ByteBuffer.wrap(sector), 0);
    return sector;
  }

  private void refuseFormatChange(byte[] sector) throws ProbedRawWriteException {
    String format = FormatProber.probe(sector, null);
    if (!format.equals("raw")) {
      throw new ProbedRawWriteException(name() + ": the image was opened as raw by probing, and this write to its"
          + " first sector would make it probe as " + format + "; name the format raw to allow it");
    }
  }

  private void ensureOpen() throws ClosedImageException {
    if (closed) {
      throw new ClosedImageException(name());
    }
  }

  private void ensureWritable() throws IOException {
    ensureOpen();
    if (storage.isReadOnly()) {
      throw new ReadOnlyImageException(name() + ": image is opened read-only");
    }
  }

  private void checkWrite(long offset, long length) throws IOException {
    ensureWritable();
    Arguments.range(name(), offset, length, size);
  }
}
