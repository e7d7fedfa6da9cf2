package io.qcow4j.luks;

import io.qcow4j.crypto.LuksHeader;
import io.qcow4j.crypto.LuksKeys;
import io.qcow4j.crypto.SectorCiphers;
import io.qcow4j.disk.AmendOptions;
import io.qcow4j.disk.ClosedImageException;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Encryption;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.InvalidSecretException;
import io.qcow4j.disk.KeySlotAmendment;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.Permission;
import io.qcow4j.disk.ReadOnlyImageException;
import io.qcow4j.disk.SnapshotLoadException;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.internal.Arguments;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.internal.storage.HostFiles;
import io.qcow4j.internal.storage.LockRequest;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A raw LUKS image (QEMU's "luks" driver, block/crypto.c): the guest disk is the payload after the
 * LUKS header, encrypted sector by sector, the IV of each 512-byte sector its number counted from
 * the payload start. The disk's size is the file's (in whole sectors) less the payload offset.
 * Requests that cover part of a sector read, decrypt, patch and encrypt it whole (QEMU's request
 * alignment of one sector); those run alone, other writes together. Discard does nothing and
 * write-zeroes writes encrypted zeros, as QEMU's block layer does for this driver.
 */
public final class LuksFile implements DiskFile {
  private static final int SECTOR = 512;
  /** The most bytes encrypted or decrypted per bounce buffer (QEMU's BLOCK_CRYPTO_MAX_IO_SIZE). */
  private static final int CHUNK = 1 << 20;

  private final Storage storage;
  private final Path path;
  private volatile LuksHeader header;
  private final SectorCiphers ciphers;
  private final long payloadOffset;
  private final ReadWriteLock partialSectors = new ReentrantReadWriteLock();
  private volatile long size;
  private volatile boolean closed;

  private LuksFile(Storage storage, Path path, LuksHeader header, SectorCiphers ciphers) throws IOException {
    this.storage = storage;
    this.path = path;
    this.header = header;
    this.ciphers = ciphers;
    this.payloadOffset = header.payloadOffset();
    this.size = sizeOf(storage.size());
  }

  private long sizeOf(long fileSize) throws IOException {
    long sectors = (fileSize + SECTOR - 1) & -SECTOR;
    if (payloadOffset > sectors) {
      throw new CorruptImageException(storage.name() + ": the LUKS payload offset " + payloadOffset
          + " lies past the end of the file (" + fileSize + " bytes)");
    }
    return sectors - payloadOffset;
  }

  /**
   * Opens the LUKS image at {@code path}, unlocked with {@code options}' key secret; with
   * {@link OpenOptions#describeOnly()} only its header is read and no secret is needed.
   */
  public static LuksFile open(Path path, OpenOptions options) throws IOException {
    return open(path, options, options.keySecret());
  }

  /**
   * Opens the LUKS image at {@code path} unlocked with {@code password} (cleared here); with
   * {@link OpenOptions#describeOnly()} only its header is read and no secret is needed.
   */
  public static LuksFile open(Path path, OpenOptions options, byte[] password) throws IOException {
    if (options.snapshot() != null) {
      throw new SnapshotLoadException(String.valueOf(path), "Block format 'luks' used by device '' does not support "
          + "temporarily loading internal snapshots");
    }
    FileStorage storage = FileStorage.open(path, options.readOnly(), LockRequest.forImageFile(options));
    try {
      return open(storage, path, password, options.describeOnly());
    } catch (IOException | RuntimeException e) {
      storage.close();
      throw e;
    }
  }

  /** Opens the LUKS image in {@code storage} with {@code password} (cleared here), or only its header when {@code describeOnly}. */
  public static LuksFile open(Storage storage, Path path, byte[] password, boolean describeOnly) throws IOException {
    String name = storage.name();
    LuksHeader header = LuksVolume.readHeader(storage, 0, storage.size(), name);
    SectorCiphers ciphers = null;
    if (!describeOnly) {
      ciphers = LuksVolume.unlock(header, storage, 0, password, "", name);
    } else if (password != null) {
      Arrays.fill(password, (byte) 0);
    }
    return new LuksFile(storage, path, header, ciphers);
  }

  /**
   * Creates a LUKS image at {@code path} (replacing any file there) as qemu-img create -f luks:
   * the file sized to the payload offset plus the disk, slot 0 holding the master key under the
   * encryption's passphrase, then the header; returned open for reading and writing.
   */
  public static LuksFile create(Path path, CreateOptions options) throws IOException {
    Encryption encryption = options.encryption();
    if (encryption == null || encryption.secret() == null) {
      throw new InvalidSecretException("Parameter 'key-secret' is required for cipher");
    }
    if (options.backingFile() != null || options.dataFile() != null) {
      throw new UnsupportedFeatureException("luks images take no backing file or data file");
    }
    LuksKeys.Parameters parameters = LuksVolume.parameters(encryption);
    long size = (options.size() + SECTOR - 1) & -SECTOR;
    byte[] password = encryption.secret();
    try (FileStorage storage = FileStorage.create(path, true)) {
      LuksKeys.NewVolume volume = createVolume(storage, parameters, password, size, options);
      Arrays.fill(volume.masterKey(), (byte) 0);
    } finally {
      Arrays.fill(password, (byte) 0);
    }
    OpenOptions reopen = OpenOptions.readWriteDefaults().withFormat(ImageFormat.LUKS).withKeySecret(encryption.secret());
    return open(path, reopen);
  }

  private static LuksKeys.NewVolume createVolume(Storage storage, LuksKeys.Parameters parameters, byte[] password,
      long size, CreateOptions options) throws IOException {
    // QEMU sizes the file first (its init callback), then writes the key material, then the header
    long payloadOffset = LuksHeader.payloadOffsetFor(parameters.cipherSpec().keyLength());
    if (size > Long.MAX_VALUE - payloadOffset) {
      throw new io.qcow4j.disk.InvalidOptionException("The requested file size is too large");
    }
    long total = payloadOffset + size;
    storage.truncate(total);
    switch (options.preallocation()) {
      case FALLOC -> storage.allocate(0, total);
      case FULL -> storage.zeroRange(0, total);
      case OFF, METADATA -> { }
    }
    LuksKeys.NewVolume volume = LuksKeys.create(parameters, password, LuksVolume.material(storage, 0));
    storage.write(ByteBuffer.wrap(volume.header().encode()), 0);
    storage.force(true);
    return volume;
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.LUKS;
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
    ensureUnlocked();
    long size = this.size;
    if (position >= size) {
      return dst.hasRemaining() ? -1 : 0;
    }
    int count = (int) Math.min(dst.remaining(), size - position);
    long end = position + count;
    long alignedStart = position & -SECTOR;
    long alignedEnd = (end + SECTOR - 1) & -SECTOR;
    byte[] buffer = new byte[(int) Math.min(CHUNK, alignedEnd - alignedStart)];
    int written = 0;
    for (long chunk = alignedStart; chunk < alignedEnd; chunk += buffer.length) {
      int length = (int) Math.min(buffer.length, alignedEnd - chunk);
      readSectors(buffer, length, chunk);
      long from = Math.max(chunk, position);
      long to = Math.min(chunk + length, end);
      dst.put(dst.position() + written, buffer, (int) (from - chunk), (int) (to - from));
      written += (int) (to - from);
    }
    dst.position(dst.position() + count);
    return count;
  }

  /** Reads and decrypts {@code length} bytes (whole sectors) at guest offset {@code guestOffset}. */
  private void readSectors(byte[] buffer, int length, long guestOffset) throws IOException {
    storage.readOrZero(ByteBuffer.wrap(buffer, 0, length), payloadOffset + guestOffset);
    ciphers.decrypt(buffer, 0, length, guestOffset / SECTOR);
  }

  /** Encrypts {@code length} bytes (whole sectors, in place) and writes them at guest offset {@code guestOffset}. */
  private void writeSectors(byte[] buffer, int length, long guestOffset) throws IOException {
    ciphers.encrypt(buffer, 0, length, guestOffset / SECTOR);
    storage.write(ByteBuffer.wrap(buffer, 0, length), payloadOffset + guestOffset);
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    Arguments.notNull(name(), src, "buffer");
    int count = src.remaining();
    checkWrite(position, count);
    writeRange(position, count, src);
    src.position(src.position() + count);
    return count;
  }

  /** Writes {@code count} bytes at {@code position}: from {@code src} (not moved), or zeros when null. */
  private void writeRange(long position, long count, ByteBuffer src) throws IOException {
    if (count == 0) {
      return;
    }
    long end = position + count;
    boolean partial = (position & (SECTOR - 1)) != 0 || (end & (SECTOR - 1)) != 0;
    var lock = partial ? partialSectors.writeLock() : partialSectors.readLock();
    lock.lock();
    try {
      long alignedStart = position & -SECTOR;
      long alignedEnd = (end + SECTOR - 1) & -SECTOR;
      byte[] buffer = new byte[(int) Math.min(CHUNK, alignedEnd - alignedStart)];
      for (long chunk = alignedStart; chunk < alignedEnd; chunk += buffer.length) {
        int length = (int) Math.min(buffer.length, alignedEnd - chunk);
        long from = Math.max(chunk, position);
        long to = Math.min(chunk + length, end);
        if (from > chunk || to < chunk + length) {
          // a partly written sector at either end: its other bytes as they are now
          readSectors(buffer, length, chunk);
        }
        if (src == null) {
          Arrays.fill(buffer, (int) (from - chunk), (int) (to - chunk), (byte) 0);
        } else {
          src.get(src.position() + (int) (from - position), buffer, (int) (from - chunk), (int) (to - from));
        }
        writeSectors(buffer, length, chunk);
      }
    } finally {
      lock.unlock();
    }
  }

  @Override
  public void flush() throws IOException {
    ensureOpen();
  }

  @Override
  public void force(boolean metadata) throws IOException {
    ensureOpen();
    storage.force(metadata);
  }

  /** Does nothing but check the range: QEMU's luks driver passes no discard down. */
  @Override
  public void discard(long offset, long length) throws IOException {
    checkWrite(offset, length);
  }

  @Override
  public void writeZeroes(long offset, long length) throws IOException {
    checkWrite(offset, length);
    writeRange(offset, length, null);
  }

  @Override
  public void allocate(long offset, long length) throws IOException {
    checkWrite(offset, length);
    storage.allocate(payloadOffset + offset, length);
  }

  @Override
  public void resize(long newSize) throws IOException {
    if (newSize < 0) {
      throw new IllegalArgumentException(name() + ": negative size " + newSize);
    }
    ensureWritable();
    storage.takePermission(Permission.RESIZE);
    storage.truncate(payloadOffset + newSize);
    size = sizeOf(storage.size());
  }

  /** All data, never zero, with no host offset: QEMU's answer for a driver without block status. */
  @Override
  public Extent blockStatus(long offset, long maxLength) throws IOException {
    ensureOpen();
    long size = this.size;
    if (offset < 0 || offset >= size || maxLength <= 0) {
      throw new IllegalArgumentException(name() + ": block status at " + offset + " outside the disk (" + size + " bytes)");
    }
    return new Extent(offset, Math.min(maxLength, size - offset), 0, true, false, true, false, -1, path);
  }

  @Override
  public ImageInfo info() throws IOException {
    ensureOpen();
    return new ImageInfo(path, ImageFormat.LUKS, size, path == null ? -1 : HostFiles.allocatedBytes(path), null, null,
        null, null, 0, false, LuksVolume.info(header));
  }

  /** The LUKS header as read at open, or as the last key slot amendment wrote it. */
  public LuksHeader header() {
    return header;
  }

  /**
   * qemu-img amend of a raw LUKS image: its key slots, as QEMU's block/crypto.c amends them (the
   * master key this image was unlocked with is stored under the new secret).
   */
  @Override
  public synchronized void amend(AmendOptions options) throws IOException {
    ensureWritable();
    KeySlotAmendment change = options.keySlots().orElseThrow(
        () -> new InvalidOptionException("Parameter 'state' is missing"));
    if (ciphers == null) {
      throw new InvalidSecretException(name() + ": Parameter 'key-secret' is required for cipher");
    }
    byte[] masterKey = ciphers.masterKey();
    try {
      header = LuksSlotAmender.amend(storage, 0, header, masterKey, change);
      storage.force(false);
    } finally {
      Arrays.fill(masterKey, (byte) 0);
    }
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
    if (closed) {
      return;
    }
    closed = true;
    if (ciphers != null) {
      ciphers.close();
    }
    storage.close();
  }

  private String name() {
    return storage.name();
  }

  private void ensureOpen() throws ClosedImageException {
    if (closed) {
      throw new ClosedImageException(name());
    }
  }

  private void ensureUnlocked() throws IOException {
    if (ciphers == null) {
      throw new InvalidSecretException(name() + ": the image was opened only to be described; its data is locked");
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
    ensureUnlocked();
    Arguments.range(name(), offset, length, size);
  }
}
