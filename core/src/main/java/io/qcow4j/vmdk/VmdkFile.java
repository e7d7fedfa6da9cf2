package io.qcow4j.vmdk;

import io.qcow4j.disk.BackingNames;
import io.qcow4j.disk.BackingPolicy;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.ClosedImageException;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.HostRange;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
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
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * A VMDK image, read-only: its extents (flat, hosted sparse, streamOptimized, COWD) laid end to
 * end, and the parent its descriptor names (parentFileNameHint) as the backing file, read where
 * a grain is unallocated once its CID matches the child's parentCID, as QEMU 7.2 reads it.
 */
public final class VmdkFile implements DiskFile {
  private final Path path;
  private final List<VmdkExtent> extents;
  private final long[] extentStarts;
  private final List<Storage> storages;
  private final String createType;
  private final long cid;
  private final long parentCid;
  private final String parentHint;
  private final DiskFile backing;
  private final long size;
  /** Whether the image was opened over a caller's Storage: no host files to measure. */
  private final boolean overStorage;
  private volatile boolean parentChecked;
  private volatile boolean closed;

  private VmdkFile(Path path, VmdkOpener.Parts parts, DiskFile backing, boolean overStorage) {
    this.path = path;
    this.overStorage = overStorage;
    this.extents = parts.extents();
    this.storages = parts.storages();
    this.createType = parts.createType();
    this.cid = parts.cid();
    this.parentCid = parts.parentCid();
    this.parentHint = parts.parentHint();
    this.backing = backing;
    this.extentStarts = new long[extents.size()];
    for (int i = 0; i < extentStarts.length; i++) {
      extentStarts[i] = extents.get(i).startByte();
    }
    VmdkExtent last = extents.getLast();
    this.size = last.startByte() + last.byteSize();
  }

  /**
   * Opens the VMDK at {@code path} read-only, with its parent as {@code options}' backing policy
   * says; a read-write open is refused naming the format.
   */
  public static VmdkFile open(Path path, OpenOptions options) throws IOException {
    return open(path, options, 0, Set.of());
  }

  /** Opens one layer at {@code depth} of a chain whose layers above are {@code seen} (real paths). */
  public static VmdkFile open(Path path, OpenOptions options, int depth, Set<Path> seen) throws IOException {
    if (!options.readOnly()) {
      // QEMU opens VMDKs read-write: a damaged image fails with its own error first
      open(path, options.withReadOnly(true), depth, seen).close();
      throw new UnsupportedFeatureException(path + ": image format 'vmdk' is read-only in qcow4j;"
          + " open it read-only");
    }
    if (options.snapshot() != null) {
      throw new SnapshotLoadException(String.valueOf(path), "Block format 'vmdk' used by device '' does not support "
          + "temporarily loading internal snapshots");
    }
    VmdkOpener.Parts parts = VmdkOpener.open(path, null, options);
    DiskFile backing = null;
    try {
      if (parts.parentHint() != null && options.backingPolicy() != BackingPolicy.IGNORE) {
        backing = openParent(path, parts.parentHint(), options, depth + 1, seen);
      }
    } catch (IOException | RuntimeException e) {
      for (Storage storage : parts.storages()) {
        try {
          storage.close();
        } catch (IOException closing) {
          e.addSuppressed(closing);
        }
      }
      throw e;
    }
    return new VmdkFile(path, parts, backing, false);
  }

  /**
   * Opens a monolithic VMDK (sparse or streamOptimized) held in {@code storage}, read-only; a
   * descriptor naming extent files, or a parent unless {@code options} ignore backing files, is
   * refused, as a storage has no directory to find them in. The storage is closed with the image.
   */
  public static VmdkFile open(Storage storage, OpenOptions options) throws IOException {
    Path path;
    try {
      path = Path.of(storage.name());
    } catch (java.nio.file.InvalidPathException e) {
      path = Path.of("vmdk");
    }
    if (!options.readOnly()) {
      throw new UnsupportedFeatureException(path + ": image format 'vmdk' is read-only in qcow4j;"
          + " open it read-only");
    }
    VmdkOpener.Parts parts = VmdkOpener.open(path, storage, options);
    if (parts.parentHint() != null && options.backingPolicy() != BackingPolicy.IGNORE) {
      storage.close();
      throw new UnsupportedFeatureException(path + ": the image names a parent ('" + parts.parentHint()
          + "'), which cannot be opened: it was opened over a storage, which has no directory");
    }
    return new VmdkFile(path, parts, null, true);
  }

  private static DiskFile openParent(Path path, String hint, OpenOptions options, int depth, Set<Path> seen)
      throws IOException {
    if (options.backingPolicy() == BackingPolicy.REFUSE) {
      throw new UnsupportedFeatureException(path + ": image has a backing file ('" + hint
          + "') and the backing policy refuses backing files");
    }
    if (depth > options.maxChainDepth()) {
      throw new ImageLimitException(path + ": backing chain is deeper than the limit of " + options.maxChainDepth()
          + " backing files (at '" + hint + "')");
    }
    if (hint.startsWith("json:") || hint.contains("://")) {
      throw new UnsupportedFeatureException(path + ": backing file '" + hint
          + "' uses a protocol or JSON description, which is not supported (only local files are)");
    }
    Path parent = Path.of(BackingNames.fullName(path.toString(), hint));
    Set<Path> chain = new HashSet<>(seen);
    chain.add(path.toRealPath());
    Path real;
    try {
      real = parent.toRealPath();
    } catch (NoSuchFileException e) {
      // in QEMU's words, which name the parent as joined to the child's directory
      FileSystemException missing = new FileSystemException(parent.toString(), null,
          "Could not open backing file: Could not open '" + parent + "': No such file or directory");
      missing.initCause(e);
      throw missing;
    }
    if (chain.contains(real)) {
      throw new CorruptImageException(path + ": backing chain loops: '" + hint + "' is already in the chain above it");
    }
    // QEMU opens a VMDK's parent as a VMDK (its backing format is always "vmdk")
    return open(parent, LockRequest.forBacking(options), depth, chain);
  }

  /** The CID of this image's descriptor. */
  public long cid() {
    return cid;
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.VMDK;
  }

  @Override
  public boolean isReadOnly() {
    return true;
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
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
      VmdkExtent extent = extentAt(guestOffset);
      long extentOffset = guestOffset - extent.startByte();
      VmdkExtent.Mapping mapping = extent.map(extentOffset);
      long mapped = mapping.kind() == VmdkExtent.Kind.COMPRESSED
          ? extent.grainBytes() - extentOffset % extent.grainBytes() : mapping.length();
      int length = (int) Math.min(count - done, mapped);
      ByteBuffer window = dst.slice(start + done, length);
      switch (mapping.kind()) {
        case DATA -> extent.storage().readOrZero(window, mapping.hostOffset());
        case COMPRESSED -> extent.readCompressed(window, extentOffset);
        case ZERO -> zero(window);
        case UNALLOCATED -> readBacking(window, guestOffset);
      }
      done += length;
      guestOffset += length;
    }
    dst.position(start + count);
    return count;
  }

  /**
   * Where the range lies in one extent's file when it keeps all of it as grains (or flat data)
   * contiguous on the host; empty otherwise (compressed or zeroed grains, holes, a range across
   * extents, storage that is not a local file).
   */
  @Override
  public Optional<HostRange> hostRange(long offset, long length) throws IOException {
    ensureOpen();
    if (offset < 0 || length <= 0 || length > size - offset) {
      return Optional.empty();
    }
    VmdkExtent extent = extentAt(offset);
    if (!(extent.storage() instanceof FileStorage) || offset + length > extent.startByte() + extent.byteSize()) {
      return Optional.empty();
    }
    long hostStart = -1;
    long cursor = offset - extent.startByte();
    long end = cursor + length;
    long first = cursor;
    while (cursor < end) {
      VmdkExtent.Mapping mapping = extent.map(cursor);
      if (mapping.kind() != VmdkExtent.Kind.DATA || mapping.length() <= 0
          || (hostStart >= 0 && mapping.hostOffset() != hostStart + (cursor - first))) {
        return Optional.empty();
      }
      if (hostStart < 0) {
        hostStart = mapping.hostOffset();
      }
      cursor += mapping.length();
    }
    return hostStart + length > extent.storage().size() ? Optional.empty()
        : Optional.of(new HostRange(extent.storage(), hostStart));
  }

  private void readBacking(ByteBuffer window, long guestOffset) throws IOException {
    if (backing == null) {
      zero(window);
      return;
    }
    checkParent();
    long backingSize = backing.size();
    if (guestOffset < backingSize) {
      int fromBacking = (int) Math.min(window.remaining(), backingSize - guestOffset);
      ByteBuffer part = window.slice(window.position(), fromBacking);
      backing.readFully(part, guestOffset);
      window.position(window.position() + fromBacking);
    }
    zero(window);
  }

  /** QEMU's vmdk_is_cid_valid: the parent must be a VMDK whose CID is this image's parentCID. */
  private void checkParent() throws IOException {
    if (parentChecked) {
      return;
    }
    if (!(backing instanceof VmdkFile parent)) {
      throw new CorruptImageException(name() + ": backing file is not a vmdk image, so it has no CID to match"
          + " parentCID " + Long.toHexString(parentCid));
    }
    if (parent.cid() != parentCid) {
      throw new CorruptImageException(name() + ": parentCID " + Long.toHexString(parentCid)
          + " does not match the CID " + Long.toHexString(parent.cid()) + " of its parent");
    }
    parentChecked = true;
  }

  private static final byte[] ZEROS = new byte[64 << 10];

  private static void zero(ByteBuffer window) {
    while (window.hasRemaining()) {
      window.put(ZEROS, 0, Math.min(ZEROS.length, window.remaining()));
    }
  }

  private VmdkExtent extentAt(long guestOffset) {
    int low = 0;
    int high = extentStarts.length - 1;
    while (low < high) {
      int middle = (low + high + 1) >>> 1;
      if (extentStarts[middle] <= guestOffset) {
        low = middle;
      } else {
        high = middle - 1;
      }
    }
    return extents.get(low);
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    throw readOnly();
  }

  @Override
  public void flush() throws IOException {
    ensureOpen();
  }

  @Override
  public void force(boolean metadata) throws IOException {
    ensureOpen();
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    throw readOnly();
  }

  @Override
  public void writeZeroes(long offset, long length) throws IOException {
    throw readOnly();
  }

  @Override
  public void allocate(long offset, long length) throws IOException {
    throw readOnly();
  }

  @Override
  public void resize(long newSize) throws IOException {
    throw readOnly();
  }

  @Override
  public Extent blockStatus(long offset, long maxLength) throws IOException {
    ensureOpen();
    if (offset < 0 || offset >= size || maxLength <= 0) {
      throw new IllegalArgumentException(name() + ": block status at " + offset + " outside the disk (" + size
          + " bytes)");
    }
    VmdkExtent extent = extentAt(offset);
    long extentOffset = offset - extent.startByte();
    VmdkExtent.Mapping mapping = extent.map(extentOffset);
    long length = Math.min(maxLength, mapping.length());
    return switch (mapping.kind()) {
      case DATA -> extent.flat() ? flatStatus(extent, offset, mapping.hostOffset(), length)
          : new Extent(offset, length, 0, true, false, true, false, mapping.hostOffset(), extent.path());
      case COMPRESSED -> new Extent(offset, length, 0, true, false, true, true, -1, extent.path());
      case ZERO -> new Extent(offset, length, 0, true, true, false, false, -1, null);
      case UNALLOCATED -> backingStatus(offset, length);
    };
  }

  /** A flat extent's data, zero where its file has a hole (QEMU recurses into the file for flat extents). */
  private static Extent flatStatus(VmdkExtent extent, long offset, long hostOffset, long length) throws IOException {
    Storage storage = extent.storage();
    long fileSize = storage.size();
    if (hostOffset >= fileSize) {
      return new Extent(offset, length, 0, true, true, true, false, hostOffset, extent.path());
    }
    long nextData = storage.nextData(hostOffset);
    if (nextData > hostOffset) {
      return new Extent(offset, Math.min(length, nextData - hostOffset), 0, true, true, true, false, hostOffset,
          extent.path());
    }
    long nextHole = Math.max(storage.nextHole(hostOffset), hostOffset + 1);
    return new Extent(offset, Math.min(length, nextHole - hostOffset), 0, true, false, true, false, hostOffset,
        extent.path());
  }

  private Extent backingStatus(long offset, long length) throws IOException {
    if (backing == null || offset >= backing.size()) {
      return new Extent(offset, length, 0, false, true, false, false, -1, null);
    }
    return backing.blockStatus(offset, Math.min(length, backing.size() - offset)).deeper();
  }

  @Override
  public ImageInfo info() throws IOException {
    ensureOpen();
    List<ImageInfo.VmdkExtentInfo> extentInfos = new ArrayList<>();
    for (VmdkExtent extent : extents) {
      extentInfos.add(new ImageInfo.VmdkExtentInfo(extent.path().toString(), extent.type() == null ? ""
          : extent.type(), extent.byteSize(), extent.flat() ? null : extent.grainBytes(), extent.compressed()));
    }
    ImageInfo.VmdkInfo vmdk = new ImageInfo.VmdkInfo(cid, parentCid, createType, clusterSize(), extentInfos);
    return new ImageInfo(path, ImageFormat.VMDK, size, allocatedBytes(), parentHint,
        parentHint == null ? null : "vmdk", null, vmdk, vmdk.clusterSize(), false);
  }

  /** QEMU's vmdk_co_get_info: the grain size when every extent is sparse alike, else none (0). */
  private long clusterSize() {
    VmdkExtent first = extents.getFirst();
    for (VmdkExtent extent : extents) {
      if (extent.flat() != first.flat() || extent.compressed() != first.compressed()
          || !first.flat() && extent.grainBytes() != first.grainBytes()) {
        return 0;
      }
    }
    return first.flat() ? 0 : first.grainBytes();
  }

  private long allocatedBytes() {
    if (overStorage) {
      return -1;
    }
    Set<Path> files = new LinkedHashSet<>();
    files.add(path);
    for (VmdkExtent extent : extents) {
      files.add(extent.path());
    }
    long total = 0;
    for (Path file : files) {
      total += HostFiles.allocatedBytes(file);
    }
    return total;
  }

  /**
   * QEMU's vmdk_co_check: every grain of every extent is looked up, and one that points at or past
   * the end of its extent file (or a lookup that fails) ends the check as one corruption with a
   * check error. A repair is refused, as QEMU refuses it.
   */
  @Override
  public CheckResult check(CheckResult.Repair repair) throws IOException {
    ensureOpen();
    if (repair != CheckResult.Repair.NONE) {
      throw new UnsupportedFeatureException(name() + ": This image format does not support checks");
    }
    String problem = null;
    long guestOffset = 0;
    while (guestOffset < size && problem == null) {
      VmdkExtent extent = extentAt(guestOffset);
      long sector = guestOffset >> 9;
      try {
        VmdkExtent.Mapping mapping = extent.map(guestOffset - extent.startByte());
        if ((mapping.kind() == VmdkExtent.Kind.DATA || mapping.kind() == VmdkExtent.Kind.COMPRESSED)
            && mapping.hostOffset() >= extent.storage().size()) {
          problem = "ERROR: cluster offset for sector " + sector + " points after EOF";
        }
        guestOffset += mapping.kind() == VmdkExtent.Kind.COMPRESSED
            ? extent.grainBytes() - (guestOffset - extent.startByte()) % extent.grainBytes() : mapping.length();
      } catch (CorruptImageException e) {
        problem = e.getMessage().contains("past the end of the file")
            ? "ERROR: cluster offset for sector " + sector + " points after EOF"
            : "ERROR: could not get cluster_offset for sector " + sector;
      }
    }
    List<String> messages = problem == null ? List.of() : List.of(problem);
    long errors = problem == null ? 0 : 1;
    return new CheckResult(name(), "vmdk", errors, errors, 0, 0, 0, 0, 0, 0, 0, 0, messages);
  }

  @Override
  public Optional<DiskFile> backing() {
    return Optional.ofNullable(backing);
  }

  @Override
  public List<Path> files() {
    Set<Path> files = new LinkedHashSet<>();
    files.add(path);
    for (VmdkExtent extent : extents) {
      files.add(extent.path());
    }
    if (backing != null) {
      files.addAll(backing.files());
    }
    return List.copyOf(files);
  }

  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    IOException failure = null;
    List<AutoCloseable> toClose = new ArrayList<>(storages);
    if (backing != null) {
      toClose.add(backing);
    }
    for (AutoCloseable closeable : toClose) {
      try {
        closeable.close();
      } catch (IOException e) {
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    }
    if (failure != null) {
      throw failure;
    }
  }

  private ReadOnlyImageException readOnly() throws ClosedImageException {
    ensureOpen();
    return new ReadOnlyImageException(name() + ": vmdk images are read-only in qcow4j");
  }

  private void ensureOpen() throws ClosedImageException {
    if (closed) {
      throw new ClosedImageException(name());
    }
  }

  private String name() {
    return path.toString();
  }
}
