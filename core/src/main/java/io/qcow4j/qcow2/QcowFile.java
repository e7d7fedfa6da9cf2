package io.qcow4j.qcow2;

import io.qcow4j.disk.AmendOptions;
import io.qcow4j.disk.BackingPolicy;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.ClosedImageException;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.HostRange;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.ReadOnlyImageException;
import io.qcow4j.disk.SnapshotInfo;
import io.qcow4j.internal.Arguments;
import io.qcow4j.qcow2.format.Features;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.L2Entry;
import io.qcow4j.qcow2.format.Snapshot;
import io.qcow4j.spec.FormatOptions;
import io.qcow4j.spec.Secrets;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** A qcow2 image: the public face of the engine, a {@link DiskFile} over one layer and its chain. */
public final class QcowFile implements DiskFile {
  private final Path path;
  private final String name;
  private final Storage storage;
  private final Storage dataStorage;
  private final Path dataPath;
  private final HeaderWriter headers;
  private final int clusterSize;
  private final ClusterLookup lookup;
  private final OverlapGuard guard;
  /** Set at open; only {@link #attachBacking} (right after creation) sets it later. */
  private volatile DiskFile backing;
  private volatile List<Snapshot> snapshots;
  private volatile long snapshotTableBytes;
  private final boolean readOnly;
  /** The image had a bitmaps extension a program without bitmap support invalidated ({@link #bitmapsInvalidated}). */
  private final boolean bitmapsInvalidated;
  private final WritePath writer;
  private final ReadPath reads;
  private final BlockStatus blockStatus;
  private final ImageDescription description;
  private volatile boolean closed;
  /** Set when a failure left the metadata undescribed or marked the image corrupt ({@link #eject}). */
  private volatile boolean ejected;
  /** The internal snapshot read in place of the current state (read-only), or null. */
  private final Snapshot loadedSnapshot;
  /**
   * The persistent dirty bitmaps: loaded at a read-write open (and tracked), on first use when
   * read-only; null when not loaded or when they could not be (see {@link #bitmapsFailure}).
   */
  private volatile PersistentBitmaps bitmaps;
  /** Why the bitmaps could not be loaded; writes then invalidate them as before (autoclear bit cleared). */
  private volatile IOException bitmapsFailure;
  /** What the repair of a dirty image at open found and did, as QEMU's check prints it; empty when none ran. */
  private volatile List<String> repairedAtOpen = List.of();
  /**
   * Whether a corruption was announced (QEMU's signaled_corruption): the first one of a writable
   * image marks it, the first of a read-only one is reported as non-fatal; later ones are not announced.
   */
  private final java.util.concurrent.atomic.AtomicBoolean corruptionSignalled =
      new java.util.concurrent.atomic.AtomicBoolean();
  /** The image's LUKS encryption, or null. */
  private final QcowEncryption encryption;
  /**
   * Of an encrypted image: writes covering part of a sector (read, decrypted, patched and
   * written whole) take it exclusively, the others shared.
   */
  private final java.util.concurrent.locks.ReadWriteLock partialSectors =
      new java.util.concurrent.locks.ReentrantReadWriteLock();

  QcowFile(Path path, Storage storage, Storage dataStorage, Path dataPath, Header header, long[] l1,
      List<Snapshot> snapshots, long snapshotTableBytes, DiskFile backing, OpenOptions options,
      Snapshot loadedSnapshot,
      QcowEncryption encryption, int overlapChecks) throws IOException {
    this.path = path;
    this.encryption = encryption;
    this.loadedSnapshot = loadedSnapshot;
    this.name = storage.name();
    this.storage = storage;
    this.dataStorage = dataStorage;
    this.dataPath = dataPath;
    this.headers = new HeaderWriter(storage, dataStorage, header);
    this.clusterSize = header.clusterSize();
    FileSize fileSize = new FileSize(storage);
    FileSize dataFileSize = dataStorage == storage ? fileSize : new FileSize(dataStorage);
    this.guard = new OverlapGuard(name, header.clusterBits(), overlapChecks);
    this.lookup = new ClusterLookup(name, storage, header.clusterBits(), header.extendedL2(), header.hasDataFile(),
        header.version() >= 3, l1, cacheBudget(options), fileSize, guard);
    this.reads = new ReadPath(this, storage, dataStorage, lookup, guard, fileSize, dataFileSize);
    this.blockStatus = new BlockStatus(this, path, storage, dataStorage, dataPath, lookup);
    this.description = new ImageDescription(this, path, storage, fileSize);
    this.snapshots = List.copyOf(snapshots);
    this.snapshotTableBytes = snapshotTableBytes;
    this.backing = backing;
    this.readOnly = options.readOnly();
    this.bitmapsInvalidated = !header.bitmapsValid()
        && header.extension(io.qcow4j.qcow2.format.HeaderExtension.BITMAPS).isPresent();
    Refcounts refcounts = readOnly ? null : new Refcounts(name, storage, header.clusterBits(), header.refcountOrder(),
        header.refcountTableOffset(), header.refcountTableClusters(), guard, cacheBudget(options) / 8);
    this.writer = readOnly ? null : new WritePath(this, storage, dataStorage, lookup, refcounts, guard, header);
    MetadataMap.populate(guard, this,
        refcounts == null ? ImageOpener.readRefcountTable(storage, header) : refcounts.tableEntries());
    if (!readOnly && header.version() >= 3 && !header.corrupt() && !header.bitmapsValid()
        && header.extension(io.qcow4j.qcow2.format.HeaderExtension.BITMAPS).isPresent()) {
      // a writer without bitmap support invalidated them: QEMU drops the extension at a read-write open
      // (their clusters leak until check -r reclaims them)
      PersistentBitmaps.dropExtension(this);
    }
    if (readOnly && header.version() >= 3) {
      // QEMU loads the bitmaps at every open and refuses the image when it cannot
      PersistentBitmaps.validate(this);
    }
    if (!readOnly && header().version() >= 3 && !header().corrupt()) {
      try {
        bitmaps = PersistentBitmaps.load(this);
      } catch (CorruptImageException e) {
        throw e;
      } catch (IOException e) {
        bitmapsFailure = e;
      }
      if (bitmaps != null) {
        // Before anything else is written (invariant 10): a crash from here on leaves them in use.
        bitmaps.markInUse();
      }
    }
  }

  /**
   * The metadata cache budget: the options' (QEMU's cache sizes, which may be anything up to 2^64),
   * but at most half the heap, so that no option can make the caches exhaust memory.
   */
  static long cacheBudget(OpenOptions options) {
    return Math.max(4096, Math.min(options.cacheBytes(), Runtime.getRuntime().maxMemory() / 2));
  }

  /** Rebuilds the overlap guard from the structures as they are now (after a wholesale change). */
  void rebuildGuard() throws IOException {
    guard.clear();
    MetadataMap.populate(guard, this, writer != null ? writer.refcounts().tableEntries()
        : ImageOpener.readRefcountTable(storage, header()));
  }

  /** Opens the qcow2 image at {@code path} and, as the options say, its backing chain. */
  public static QcowFile open(Path path, OpenOptions options) throws IOException {
    return ImageOpener.open(path, options);
  }

  /**
   * Opens the qcow2 image at {@code path} with what its spec's {@code formatOptions} change: a
   * backing file of their own or none, another data file, checks against the header;
   * {@code secrets} holds the secrets they may name.
   */
  public static QcowFile open(Path path, OpenOptions options, FormatOptions formatOptions, Secrets secrets)
      throws IOException {
    return ImageOpener.open(path, options, new LayerOverrides(formatOptions, secrets));
  }

  /**
   * Checks the image at {@code path} like qemu-img check and repairs what {@code repair} allows;
   * a repair that leaves the image clean also clears its dirty and corrupt bits.
   */
  public static CheckResult check(Path path, CheckResult.Repair repair) throws IOException {
    return check(path, repair, OpenOptions.readOnlyDefaults(), FormatOptions.none(), Secrets.none());
  }

  /**
   * As {@link #check(Path, CheckResult.Repair)}, opening the image with {@code options} (its
   * locks, cache budget) and its spec's {@code formatOptions}; the backing file is never opened,
   * and the image is read-only unless repaired.
   */
  public static CheckResult check(Path path, CheckResult.Repair repair, OpenOptions options,
      FormatOptions formatOptions, Secrets secrets) throws IOException {
    OpenOptions checkOptions = options.withBackingPolicy(BackingPolicy.IGNORE)
        .withReadOnly(repair == CheckResult.Repair.NONE);
    try (QcowFile image = ImageOpener.openLayer(path, checkOptions, 0, Set.of(), true,
        new LayerOverrides(formatOptions, secrets))) {
      return image.check(repair);
    }
  }

  /** Checks this image like qemu-img check, repairing what {@code repair} allows (read-write images only). */
  @Override
  public CheckResult check(CheckResult.Repair repair) throws IOException {
    ensureOpen();
    Arguments.notNull(name, repair, "repair");
    if (writer == null) {
      if (repair != CheckResult.Repair.NONE) {
        throw new ReadOnlyImageException(name + ": a repair needs the image opened read-write");
      }
      Refcounts refcounts = new Refcounts(name, storage, header().clusterBits(), header().refcountOrder(),
          header().refcountTableOffset(), header().refcountTableClusters());
      return ImageCheck.run(this, refcounts, repair);
    }
    return writer.exclusive(repair != CheckResult.Repair.NONE, () -> {
      CheckResult result = ImageCheck.run(this, writer.refcounts(), repair);
      if (repair != CheckResult.Repair.NONE) {
        // the refcounts lazy refcounts defer are written before the dirty bit may be cleared
        writer.flushAll();
        rebuildGuard();
        if (result.corruptions() == 0 && result.leaks() == 0 && (header().dirty() || header().corrupt())) {
          changeIncompatibleFeatures(0, Features.INCOMPAT_DIRTY | Features.INCOMPAT_CORRUPT);
          storage.force(false);
          writer.dirtyBitCleared();
        }
      }
      return result;
    });
  }

  /** Creates a qcow2 image as {@code options} describe (replacing any file there) and opens it read-write. */
  public static QcowFile create(Path path, CreateOptions options) throws IOException {
    return ImageCreator.create(path, options);
  }

  /**
   * As {@link #create(Path, CreateOptions)}, the image made and opened as {@code open} says (cache
   * budget, flushes, locks; it is always opened read-write).
   */
  public static QcowFile create(Path path, CreateOptions options, OpenOptions open) throws IOException {
    return ImageCreator.create(path, options, open);
  }

  /**
   * Creates a qcow2 image and closes it without opening its backing file, which need not exist
   * (qemu-img create -u).
   */
  public static void createUnsafe(Path path, CreateOptions options) throws IOException {
    ImageCreator.createDetached(path, options).close();
  }

  /**
   * Creates a qcow2 image in empty {@code storage} (no external data file) and opens it read-write,
   * reading through its backing file, whose relative name is resolved against the working directory.
   */
  public static QcowFile create(Storage storage, CreateOptions options) throws IOException {
    return ImageCreator.create(storage, null, options);
  }

  /**
   * Like {@link #create(Storage, CreateOptions)}, with {@code path} naming the image
   * for messages and anchoring its relative backing file name.
   */
  public static QcowFile create(Storage storage, Path path, CreateOptions options) throws IOException {
    return ImageCreator.create(storage, path, options);
  }

  /**
   * Opens a qcow2 image held by {@code storage} (for tests and embedders with their own storage);
   * {@code path} (nullable) names it and anchors relative backing and data file names.
   */
  public static QcowFile open(Storage storage, Path path, OpenOptions options) throws IOException {
    return ImageOpener.open(storage, path, options);
  }

  /**
   * Opens a qcow2 image held by {@code storage} (a node of an image spec: blkdebug, a raw window,
   * another protocol) with what its spec's {@code formatOptions} change; {@code path} (nullable)
   * names the file at the bottom and anchors relative backing and data file names. A failed open
   * closes the storage.
   */
  public static QcowFile open(Storage storage, Path path, OpenOptions options, FormatOptions formatOptions,
      Secrets secrets) throws IOException {
    return ImageOpener.open(storage, path, options, new LayerOverrides(formatOptions, secrets));
  }

  static QcowFile openLayer(Path path, OpenOptions options, int depth, Set<Path> chainAbove) throws IOException {
    return ImageOpener.openLayer(path, options, depth, chainAbove, false);
  }

  static QcowFile openLayer(Path path, OpenOptions options, int depth, Set<Path> chainAbove,
      LayerOverrides overrides) throws IOException {
    return ImageOpener.openLayer(path, options, depth, chainAbove, false, overrides);
  }

  long snapshotTableBytes() {
    return snapshotTableBytes;
  }

  /**
   * Rewrites the whole header area (fields, extensions, backing file name) in one write within the
   * first cluster, with barriers around it.
   */
  void rewriteHeaderArea(Header updated) throws IOException {
    headers.rewriteHeaderArea(updated);
  }

  /** Changes what qemu-img amend changes: compat level, lazy refcounts, refcount width, size. */
  @Override
  public void amend(AmendOptions options) throws IOException {
    amend(options, io.qcow4j.disk.AmendProgress.NONE);
  }

  /** As {@link #amend(AmendOptions)}, reporting progress as QEMU's qcow2_amend_options does. */
  @Override
  public void amend(AmendOptions options, io.qcow4j.disk.AmendProgress progress) throws IOException {
    ensureWritable();
    Arguments.notNull(name, options, "amend options");
    Arguments.notNull(name, progress, "amend progress");
    long oldSize = header().size();
    writer.exclusive(() -> {
      new Amender(this).amend(options, progress);
      writer.flush();
      rebuildGuard();
      return null;
    });
    PersistentBitmaps held = bitmaps;
    if (held != null && header().version() < 3) {
      // a v2 image keeps no bitmaps: what is on disk stays as QEMU's downgrade leaves it
      bitmaps = null;
    } else if (held != null && header().size() != oldSize) {
      held.resize(header().size());
    }
  }

  /**
   * The snapshot table a check read (an image opened for a check reads none at open, as QEMU's):
   * its entries and the bytes they take; the overlap guard is rebuilt over them.
   */
  void installCheckedSnapshots(List<Snapshot> table, long tableBytes) throws IOException {
    snapshots = List.copyOf(table);
    snapshotTableBytes = tableBytes;
    rebuildGuard();
  }

  /** Points the header at a new snapshot table (written and durable already). */
  void writeSnapshotTable(long offset, List<Snapshot> table, long tableBytes) throws IOException {
    Header current = header();
    writeHeader(current.withSnapshotTable(table.size(), offset));
    snapshots = List.copyOf(table);
    snapshotTableBytes = tableBytes;
  }

  /**
   * Compresses one whole cluster with the image's compression type; null when it does not shrink.
   * Thread-safe and free of I/O, so callers may compress many clusters in parallel.
   */
  public byte[] compressCluster(ByteBuffer cluster) {
    if (cluster.remaining() != clusterSize) {
      throw new IllegalArgumentException(name + ": a compressed cluster must be " + clusterSize + " bytes");
    }
    return Compression.compress(header().compressionType(), cluster);
  }

  /**
   * Stores compressed bytes from {@link #compressCluster} as the content of the cluster at
   * {@code guestOffset} (cluster-aligned), packed after the previous compressed cluster.
   */
  public void writeCompressed(long guestOffset, byte[] compressed) throws IOException {
    Arguments.notNull(name, compressed, "compressed cluster");
    Arguments.position(name, guestOffset);
    checkWrite(guestOffset, Math.min(clusterSize, Math.max(0, header().size() - guestOffset)));
    if ((guestOffset & (clusterSize - 1)) != 0) {
      throw new IllegalArgumentException(name + ": compressed write at " + guestOffset + " is not cluster-aligned");
    }
    if (encryption != null) {
      throw new io.qcow4j.disk.UnsupportedFeatureException(name + ": Compression and encryption not supported at the same time");
    }
    markDirty(guestOffset, Math.min(clusterSize, header().size() - guestOffset));
    writer.writeCompressed(guestOffset, compressed);
  }

  /** The cluster size in bytes. */
  public int clusterSize() {
    return clusterSize;
  }

  /** Creates an internal snapshot of the current state (qemu-img snapshot -c) and returns it. */
  @Override
  public SnapshotInfo createSnapshot(String snapshotName) throws IOException {
    Arguments.notNull(name, snapshotName, "snapshot name");
    return describe(withSnapshots(table -> table.create(snapshotName, snapshots, System.currentTimeMillis())));
  }

  /** Reverts the disk to the snapshot with this id, else the first with this name (qemu-img snapshot -a). */
  @Override
  public void applySnapshot(String nameOrId) throws IOException {
    ensureOpen();
    Snapshot snapshot = Snapshots.find(name, snapshots, Arguments.notNull(name, nameOrId, "snapshot name or id"));
    withSnapshots(table -> {
      table.apply(snapshot);
      return snapshot;
    });
  }

  /** Deletes the snapshot with this id, else the first with this name (qemu-img snapshot -d). */
  @Override
  public void deleteSnapshot(String nameOrId) throws IOException {
    ensureOpen();
    Snapshot snapshot = Snapshots.find(name, snapshots, Arguments.notNull(name, nameOrId, "snapshot name or id"));
    withSnapshots(table -> {
      table.delete(snapshot, snapshots);
      return snapshot;
    });
  }

  private interface SnapshotAction {
    Snapshot run(Snapshots table) throws IOException;
  }

  private Snapshot withSnapshots(SnapshotAction action) throws IOException {
    ensureWritable();
    return writer.exclusive(() -> {
      Snapshot result = action.run(new Snapshots(this, writer.refcounts()));
      writer.flush();
      rebuildGuard();
      return result;
    });
  }

  // ---------------------------------------------------------------- VM state area

  /**
   * Where the VM state area starts in the guest address space: the first L2 table's range past
   * the disk (QEMU's qcow2_vm_state_offset). Its clusters are mapped through the L1 table like the
   * disk's, so internal snapshots keep them with the disk.
   */
  long vmStateOffset() {
    long bytesPerTable = lookup.bytesPerL2Table();
    return Math.ceilDiv(header().size(), bytesPerTable) * bytesPerTable;
  }

  /** The guest offset of {@code length} bytes at {@code position} of the VM state area; EIO-like past 2^63. */
  private long vmStateGuestOffset(long position, long length) throws IOException {
    Arguments.position(name, position);
    long start = vmStateOffset();
    if (Long.MAX_VALUE - position < start || Long.MAX_VALUE - start - position < length) {
      throw new ImageLimitException(name + ": VM state request at " + position + " (" + length
          + " bytes) ends past 2^63");
    }
    return start + position;
  }

  @Override
  public void readVmState(ByteBuffer dst, long position) throws IOException {
    ensureOpen();
    Arguments.notNull(name, dst, "buffer");
    refuseVmStateWithEncryption();
    long guestOffset = vmStateGuestOffset(position, dst.remaining());
    storage.debugEvent("vmstate_load");
    readRange(dst, guestOffset, dst.remaining());
  }

  @Override
  public void writeVmState(ByteBuffer src, long position) throws IOException {
    ensureOpen();
    Arguments.notNull(name, src, "buffer");
    refuseVmStateWithEncryption();
    int count = src.remaining();
    long guestOffset = vmStateGuestOffset(position, count);
    ensureWritable();
    if (header().corrupt()) {
      throw new CorruptImageException(name + ": image was marked corrupt by an earlier failure; writes are refused");
    }
    if (count == 0) {
      return;
    }
    storage.debugEvent("vmstate_save");
    long neededEntries = (guestOffset + count - 1) / lookup.bytesPerL2Table() + 1;
    if (neededEntries > lookup.l1().length) {
      writer.exclusive(() -> {
        Resizer.growL1(this, neededEntries, false);
        writer.flush();
        rebuildGuard();
        return null;
      });
    }
    writer.write(src, guestOffset);
  }

  private void refuseVmStateWithEncryption() throws UnsupportedFeatureException {
    if (encryption != null) {
      throw new UnsupportedFeatureException(name + ": the VM state area of an encrypted image is not supported by qcow4j");
    }
  }

  /** Opens the backing file the header names and reads through it from now on; returns this image. */
  QcowFile attachBacking() throws IOException {
    if (backing == null && header().backingFile() != null) {
      try {
        Set<Path> chain = new java.util.HashSet<>();
        if (path != null) {
          chain.add(path.toRealPath());
        }
        backing = BackingChain.open(path, header().backingFile(), header().backingFormat().orElse(null),
            OpenOptions.readWriteDefaults(), 1, chain);
      } catch (IOException | RuntimeException e) {
        close();
        throw e;
      }
    }
    return this;
  }

  /** The decoded header as it is now. */
  Header header() {
    return headers.header();
  }

  /** The internal snapshot this image reads as (its L1 table is the active one here), or null. */
  Snapshot loadedSnapshot() {
    return loadedSnapshot;
  }

  /** The snapshot table as it is now. */
  List<Snapshot> snapshotTable() {
    return snapshots;
  }

  /** The internal snapshots in table order, as qemu-img snapshot -l lists them. */
  @Override
  public List<SnapshotInfo> snapshots() {
    return snapshots.stream().map(QcowFile::describe).toList();
  }

  /** A snapshot table entry as the API describes it. */
  static SnapshotInfo describe(Snapshot snapshot) {
    return new SnapshotInfo(snapshot.id(), snapshot.name(), snapshot.vmStateSize(), snapshot.dateSeconds(),
        snapshot.dateNanoseconds(), snapshot.vmClockNanoseconds(), snapshot.icount(), snapshot.diskSize());
  }

  @Override
  public long size() throws IOException {
    if (ejected) {
      // bdrv_getlength of a node without a driver
      throw new io.qcow4j.disk.NoMediumException(name);
    }
    return header().size();
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.QCOW2;
  }

  @Override
  public boolean isReadOnly() {
    return readOnly;
  }

  /** The image's LUKS encryption, or null. */
  QcowEncryption encryption() {
    return encryption;
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    ensureOpen();
    Arguments.notNull(name, dst, "buffer");
    Arguments.position(name, position);
    long size = header().size();
    if (position >= size) {
      return dst.hasRemaining() ? -1 : 0;
    }
    int count = (int) Math.min(dst.remaining(), size - position);
    if (encryption != null && (!dst.hasArray() || !sectorAligned(position, count))) {
      ensureUnlocked();
      // whole sectors through a heap buffer: the engine decrypts what it reads in place
      long start = position & -QcowEncryption.SECTOR;
      long end = Math.min(size, (position + count + QcowEncryption.SECTOR - 1) & -QcowEncryption.SECTOR);
      ByteBuffer bounce = ByteBuffer.allocate(Math.toIntExact(end - start));
      readRange(bounce, start, bounce.remaining());
      dst.put(dst.position(), bounce.array(), (int) (position - start), count);
      dst.position(dst.position() + count);
      return count;
    }
    if (encryption != null) {
      ensureUnlocked();
    }
    readRange(dst, position, count);
    return count;
  }

  private static boolean sectorAligned(long position, long length) {
    return ((position | length) & (QcowEncryption.SECTOR - 1)) == 0;
  }

  private void ensureUnlocked() throws IOException {
    if (!encryption.unlocked()) {
      throw new io.qcow4j.disk.InvalidSecretException(name
          + ": the image was opened only to be described; its data is locked");
    }
  }

  /** Reads {@code count} bytes at {@code position} (inside the disk) into {@code dst}, moving it past them. */
  private void readRange(ByteBuffer dst, long position, int count) throws IOException {
    if (writer == null) {
      reads.readRange(dst, position, count);
    } else {
      // A cluster freed meanwhile is not reused before this read ends (see InFlightIo).
      long epoch = writer.io.enter();
      try {
        reads.readRange(dst, position, count);
      } finally {
        writer.io.exit(epoch);
      }
    }
  }

  /**
   * A range of data clusters contiguous in the data file, of an image opened read-only (one opened
   * for writing may move or free a cluster while the range is read).
   */
  @Override
  public Optional<HostRange> hostRange(long offset, long length) throws IOException {
    ensureOpen();
    if (writer != null || offset < 0 || length <= 0 || length > header().size() - offset) {
      return Optional.empty();
    }
    return reads.hostRange(offset, length);
  }

  /** Reads into the buffers in order as one range: one host I/O per contiguous host extent. */
  @Override
  public long read(ByteBuffer[] dsts, long position) throws IOException {
    ensureOpen();
    Arguments.buffers(name, dsts);
    Arguments.position(name, position);
    BufferList all = new BufferList(dsts);
    long size = header().size();
    if (position >= size) {
      return all.length() > 0 ? -1 : 0;
    }
    long count = Math.min(all.length(), size - position);
    if (encryption != null) {
      ByteBuffer gathered = ByteBuffer.allocate(Math.toIntExact(count));
      read(gathered, position);
      int at = 0;
      for (ByteBuffer slice : all.slices(0, count)) {
        int length = slice.remaining();
        slice.put(slice.position(), gathered.array(), at, length);
        at += length;
      }
      all.consume(count);
      return count;
    }
    BufferList inside = new BufferList(all.slices(0, count));
    if (writer == null) {
      reads.readRange(inside, position);
    } else {
      long epoch = writer.io.enter();
      try {
        reads.readRange(inside, position);
      } finally {
        writer.io.exit(epoch);
      }
    }
    all.consume(count);
    return count;
  }

  /** Writes the buffers in order as one range: in-place extents as one host I/O each. */
  @Override
  public long write(ByteBuffer[] srcs, long position) throws IOException {
    ensureOpen();
    Arguments.buffers(name, srcs);
    BufferList all = new BufferList(srcs);
    checkWrite(position, all.length());
    markDirty(position, all.length());
    if (encryption != null) {
      ByteBuffer gathered = ByteBuffer.allocate(Math.toIntExact(all.length()));
      for (ByteBuffer slice : all.slices(0, all.length())) {
        gathered.put(slice.duplicate());
      }
      writeEncrypted(gathered.flip(), position);
      all.consumeAll();
      return all.length();
    }
    writer.write(all, position);
    all.consumeAll();
    return all.length();
  }

  /**
   * Fills {@code dst} with what this layer reads at {@code guestOffset} now; bytes past the virtual
   * size read as zeros. For copy-on-write: the caller holds the locks it needs.
   */
  void readLayer(ByteBuffer dst, long guestOffset) throws IOException {
    reads.readLayer(dst, guestOffset);
  }

  @Override
  public Extent blockStatus(long offset, long maxLength) throws IOException {
    ensureOpen();
    return blockStatus.extentAt(offset, maxLength);
  }

  @Override
  public ImageInfo info() throws IOException {
    ensureOpen();
    return description.info();
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
    return Optional.ofNullable(backing);
  }

  @Override
  public List<Path> files() {
    List<Path> files = new ArrayList<>();
    files.add(path);
    if (dataStorage != storage && dataPath != null) {
      files.add(dataPath);
    }
    if (backing != null) {
      files.addAll(backing.files());
    }
    return files;
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    ensureOpen();
    Arguments.notNull(name, src, "buffer");
    int count = src.remaining();
    checkWrite(position, count);
    markDirty(position, count);
    if (encryption != null) {
      writeEncrypted(src.duplicate(), position);
      src.position(src.position() + count);
      return count;
    }
    writer.write(src, position);
    return count;
  }

  /**
   * A write to an encrypted image in whole sectors: a sector written in part is read (decrypted)
   * and patched first, as QEMU's block layer does under its request alignment of 512 bytes.
   */
  private void writeEncrypted(ByteBuffer src, long position) throws IOException {
    ensureUnlocked();
    int count = src.remaining();
    if (count == 0) {
      return;
    }
    boolean aligned = sectorAligned(position, count);
    var lock = aligned ? partialSectors.readLock() : partialSectors.writeLock();
    lock.lock();
    try {
      if (aligned) {
        writer.write(src, position);
        return;
      }
      long start = position & -QcowEncryption.SECTOR;
      long end = (position + count + QcowEncryption.SECTOR - 1) & -QcowEncryption.SECTOR;
      ByteBuffer whole = ByteBuffer.allocate(Math.toIntExact(end - start));
      readRange(whole.slice(0, QcowEncryption.SECTOR), start, QcowEncryption.SECTOR);
      if (end - QcowEncryption.SECTOR > start) {
        readRange(whole.slice(whole.capacity() - QcowEncryption.SECTOR, QcowEncryption.SECTOR),
            end - QcowEncryption.SECTOR, QcowEncryption.SECTOR);
      }
      whole.put((int) (position - start), src, src.position(), count);
      writer.write(whole, start);
    } finally {
      lock.unlock();
    }
  }

  /** Zeroes by sectors on an encrypted image: the parts of sectors at either end as zero bytes written. */
  private boolean zeroedPartialSectors(long offset, long length, boolean unmap) throws IOException {
    if (encryption == null || sectorAligned(offset, length)) {
      return false;
    }
    long alignedStart = (offset + QcowEncryption.SECTOR - 1) & -QcowEncryption.SECTOR;
    long alignedEnd = (offset + length) & -QcowEncryption.SECTOR;
    if (alignedStart >= alignedEnd) {
      writeEncrypted(ByteBuffer.allocate((int) length), offset);
      return true;
    }
    if (alignedStart > offset) {
      writeEncrypted(ByteBuffer.allocate((int) (alignedStart - offset)), offset);
    }
    writer.writeZeroes(alignedStart, alignedEnd - alignedStart, unmap);
    if (offset + length > alignedEnd) {
      writeEncrypted(ByteBuffer.allocate((int) (offset + length - alignedEnd)), alignedEnd);
    }
    return true;
  }

  @Override
  public void flush() throws IOException {
    if (ejected && !closed) {
      // bdrv_co_flush returns success at once for a node without a driver
      return;
    }
    ensureOpen();
    if (writer != null) {
      writer.flush();
    }
  }

  @Override
  public void force(boolean metadata) throws IOException {
    if (ejected && !closed) {
      return;
    }
    ensureOpen();
    if (writer == null) {
      return;
    }
    writer.flush();
    if (dataStorage != storage) {
      dataStorage.force(metadata);
    }
    storage.force(metadata);
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    checkWrite(offset, length);
    markDirty(offset, length);
    writer.discard(offset, length);
  }

  @Override
  public void writeZeroes(long offset, long length) throws IOException {
    checkWrite(offset, length);
    markDirty(offset, length);
    if (zeroedPartialSectors(offset, length, false)) {
      return;
    }
    writer.writeZeroes(offset, length, false);
  }

  /** Like {@link #writeZeroes}, releasing host clusters that become wholly zero (qemu-io's write -z -u). */
  @Override
  public void writeZeroesUnmap(long offset, long length) throws IOException {
    checkWrite(offset, length);
    markDirty(offset, length);
    if (zeroedPartialSectors(offset, length, true)) {
      return;
    }
    writer.writeZeroes(offset, length, true);
  }

  /** True on version 3 images, which zero with the zero flag; version 2 writes zeros over allocated clusters. */
  @Override
  public boolean hasFastZeroes() {
    return header().version() >= 3;
  }

  @Override
  public void allocate(long offset, long length) throws IOException {
    checkWrite(offset, length);
    long end = offset + length;
    for (long cursor = offset & ~(clusterSize - 1L); cursor < end; cursor += clusterSize) {
      writer.allocateCluster(cursor);
    }
  }

  /**
   * Maps the clusters of {@code [offset, offset + length)} that have no host cluster to fresh
   * ones without writing them (they read as zeros), as QEMU's metadata preallocation does for a
   * grown image; a partly covered first cluster is allocated with its content.
   */
  public void preallocateMetadata(long offset, long length) throws IOException {
    checkWrite(offset, length);
    if (length == 0) {
      return;
    }
    if (encryption != null) {
      // an encrypted cluster of zeros is no run of zero bytes: allocate with the content
      allocate(offset, length);
      return;
    }
    long end = offset + length;
    long firstWhole = (offset + clusterSize - 1) & -(long) clusterSize;
    if (firstWhole != offset) {
      writer.allocateCluster(offset & -(long) clusterSize);
    }
    if (firstWhole < end) {
      writer.preallocateMetadata(firstWhole, end);
    }
  }

  /**
   * Deallocates every cluster of this layer (data, zero flags, compressed clusters), so that the
   * whole disk reads through to the backing file again: qemu-img commit's "make empty". Host space
   * is released as {@link #discard} releases it; clusters still shared with snapshots stay theirs.
   */
  public void makeEmpty() throws IOException {
    ensureWritable();
    if (ImageEmptier.applies(this, header())) {
      writer.exclusive(() -> {
        ImageEmptier.run(this);
        return null;
      });
      return;
    }
    unallocateFrom(0, header().size());
  }

  /**
   * Stops using the image after a failure that left its metadata undescribed or marked it corrupt
   * (QEMU ejects the driver, bs->drv = NULL): nothing more is written, a close included, a flush
   * succeeds without effect, and every other operation fails with {@link io.qcow4j.disk.NoMediumException}.
   */
  void eject() {
    ejected = true;
  }

  /** Deallocates every cluster of this layer from cluster-aligned {@code start} to {@code end}, then flushes. */
  private void unallocateFrom(long start, long end) throws IOException {
    long cursor = start;
    while (cursor < end) {
      Run run = lookup.lookup(cursor, end - cursor);
      long runEnd = run.guestEnd();
      if (run.kind() != L2Entry.Kind.UNALLOCATED || run.hostOffset() != Run.NO_HOST) {
        for (long cluster = cursor & ~(clusterSize - 1L); cluster < runEnd; cluster += clusterSize) {
          writer.unallocate(cluster);
        }
      }
      cursor = runEnd;
    }
    writer.flush();
  }

  @Override
  public void resize(long newSize) throws IOException {
    ensureWritable();
    long oldSize = header().size();
    PersistentBitmaps held = bitmaps;
    if (held != null) {
      for (PersistentBitmaps.Bitmap bitmap : held.bitmaps()) {
        BitmapOperations.consistent(bitmap);
        PersistentBitmaps.newBits(name, bitmap.name, newSize, bitmap.granularityBits);
      }
    }
    Resizer.refuseV2WithSnapshots(this);
    if (newSize < oldSize) {
      // QEMU's shrink discards whatever lies past the new end (qcow2_cluster_discard with
      // full_discard): whole clusters only, a partial last cluster keeps its data
      unallocateFrom((newSize + clusterSize - 1) & ~(clusterSize - 1L), oldSize);
    }
    Resizer.resize(this, newSize);
    if (held != null && newSize != oldSize) {
      held.resize(newSize);
    }
    if (newSize <= oldSize) {
      return;
    }
    if (dataStorage != storage && dataStorage.size() < newSize) {
      // A raw data file stays a valid raw image of the disk; any data file covers the guest range.
      dataStorage.truncate(newSize);
    }
    // The new area reads as zeros: not the old bytes left in the last cluster by an unaligned
    // shrink, nor a longer backing file's data (QEMU's truncate zero-fills it the same way).
    long zeroEnd = Math.min(newSize, (oldSize + clusterSize - 1) & ~(clusterSize - 1L));
    if (backing != null && backing.size() > oldSize) {
      zeroEnd = newSize;
    }
    if (zeroEnd > oldSize) {
      // as QEMU's truncate zeroes the new area: not a guest write, no bitmap marks it
      checkWrite(oldSize, zeroEnd - oldSize);
      writer.writeZeroes(oldSize, zeroEnd - oldSize, false);
    }
  }

  private void ensureOpen() throws IOException {
    if (closed) {
      throw new ClosedImageException(name);
    }
    if (ejected) {
      throw new io.qcow4j.disk.NoMediumException(name);
    }
  }

  private void ensureWritable() throws IOException {
    ensureOpen();
    if (writer == null) {
      throw new ReadOnlyImageException(name + ": image is opened read-only");
    }
  }

  private void checkWrite(long offset, long length) throws IOException {
    ensureWritable();
    if (header().corrupt()) {
      throw new CorruptImageException(name + ": image was marked corrupt by an earlier failure; writes are refused");
    }
    Arguments.range(name, offset, length, header().size());
  }

  // ---------------------------------------------------------------- engine internals

  DiskFile backingDisk() {
    return backing;
  }

  ClusterLookup lookup() {
    return lookup;
  }

  OverlapGuard guard() {
    return guard;
  }

  /**
   * The lines of the repair this open made of a dirty lazy-refcounts image ("Repairing cluster 5
   * refcount=0 reference=1", ...), which QEMU prints while it opens such an image; empty when the
   * image was clean.
   */
  public List<String> repairedAtOpen() {
    return repairedAtOpen;
  }

  /** The lazy-refcounts runtime option, which overrides the header's compat bit; null: the header's. */
  private volatile Boolean lazyRefcountsOption;

  void overrideLazyRefcounts(Boolean value) {
    lazyRefcountsOption = value;
  }

  /** Whether refcount updates may be deferred (QEMU's use_lazy_refcounts): the runtime option, else the header's bit. */
  boolean usesLazyRefcounts() {
    Boolean option = lazyRefcountsOption;
    return option != null ? option && header().version() >= 3 : header().lazyRefcounts();
  }

  /** The name of the image's storage, as errors about the image give it. */
  String storageName() {
    return name;
  }

  /** Lines QEMU's qcow2 driver prints itself (stderr, no program name) while an operation goes on. */
  private final List<String> diagnostics = new java.util.concurrent.CopyOnWriteArrayList<>();

  void diagnostic(String line) {
    diagnostics.add(line);
  }

  /**
   * Takes the lines QEMU's qcow2 driver would have printed on stderr during the operations so far,
   * a failure it reports and goes past ("qcow2_free_clusters failed: Input/output error").
   */
  public List<String> takeDiagnostics() {
    List<String> taken = List.copyOf(diagnostics);
    diagnostics.removeAll(taken);
    return taken;
  }

  void setRepairedAtOpen(List<String> lines) {
    repairedAtOpen = List.copyOf(lines);
  }

  WritePath writer() {
    return writer;
  }

  ReadPath reads() {
    return reads;
  }

  Storage storage() {
    return storage;
  }

  /**
   * Records {@code backingName} and {@code backingFormat} in the header (null or empty name: no
   * backing file; null format: none recorded), as qemu-img rebase and amend do. Everything written
   * so far is made durable first, then the header area of cluster 0 is rewritten in one write and
   * made durable; the open image keeps reading through the backing file it was opened with.
   */
  public void setBackingFile(String backingName, String backingFormat) throws IOException {
    ensureWritable();
    headers.setBackingFile(backingName, backingFormat, writer);
  }

  /** Writes the header's fixed fields (the extensions and backing name stay as they are). */
  void writeHeader(Header updated) throws IOException {
    headers.writeHeader(updated);
  }

  /** Sets and clears incompatible feature bits of the header as it is now, in one header write. */
  void changeIncompatibleFeatures(long set, long clear) throws IOException {
    headers.changeIncompatibleFeatures(set, clear);
  }

  void updateRefcountTable(long offset, int clusters) throws IOException {
    headers.updateRefcountTable(offset, clusters);
  }

  /** Sets the corrupt bit (best effort: the image is already in trouble). */
  void markCorrupt() {
    headers.markCorrupt();
  }

  /** A step of a change to the image, run by {@link #guarded}. */
  interface Step<T> {
    T run() throws IOException;
  }

  /** Runs a step of a change to the image; an inconsistency found on the way marks it corrupt (invariant 6). */
  <T> T guarded(Step<T> step) throws IOException {
    try {
      return step.run();
    } catch (CorruptImageException e) {
      throw signalCorruption(e);
    }
  }

  /**
   * Signals {@code failure}, a corruption found in this image, as QEMU's qcow2_signal_corruption
   * does, and returns what to throw. A writable image is marked corrupt and made unusable for the
   * rest of this open ({@link #eject}: later requests fail with "No medium found"); the failure
   * that marked it is returned as such ({@link CorruptImageException#markedCorrupt}). A read-only
   * image is left as it is, and only its first corruption is reported, as non-fatal
   * ({@link CorruptImageException#reportedNonFatal}). Others are returned as they are.
   */
  CorruptImageException signalCorruption(CorruptImageException failure) {
    if (failure.markedCorrupt() || failure.reportedNonFatal()) {
      return failure;
    }
    if (writer == null) {
      return corruptionSignalled.compareAndSet(false, true) ? failure.asNonFatalReport() : failure;
    }
    boolean wasCorrupt = header().corrupt();
    markCorrupt();
    eject();
    boolean first = corruptionSignalled.compareAndSet(false, true);
    return first || !wasCorrupt ? failure.asMarking() : failure;
  }

  /**
   * Clears the autoclear bits this engine does not maintain (invariant 7): unknown ones, and the
   * bitmaps bit when the bitmaps could not be loaded (else they are tracked and stored). Called before the first change
   * of a read-write open, once it passed its checks: an open that changes nothing, or whose first
   * change is refused as corruption, leaves the structures those bits describe valid.
   */
  void clearAutoclearBits() throws IOException {
    headers.clearAutoclearBits(bitmaps != null);
  }

  // ---------------------------------------------------------------- persistent dirty bitmaps

  /** Marks a guest range dirty in the enabled bitmaps (before its write: a failed write leaves it marked). */
  private void markDirty(long offset, long length) throws ImageLimitException {
    PersistentBitmaps held = bitmaps;
    if (held != null) {
      held.mark(offset, length);
    }
  }

  /** The bitmaps, loaded now for a read-only image; refuses with why they could not be loaded. */
  private PersistentBitmaps bitmapsOrFail() throws IOException {
    ensureOpen();
    PersistentBitmaps held = bitmaps;
    if (held != null) {
      return held;
    }
    if (bitmapsFailure != null) {
      throw bitmapsFailure;
    }
    synchronized (this) {
      if (bitmaps == null) {
        bitmaps = PersistentBitmaps.load(this);
      }
      return bitmaps;
    }
  }

  private PersistentBitmaps writableBitmaps() throws IOException {
    ensureWritable();
    if (header().corrupt()) {
      throw new CorruptImageException(name + ": image was marked corrupt by an earlier failure; writes are refused");
    }
    return bitmapsOrFail();
  }

  /** Stores the bitmaps at close (in-use flags cleared), after every write they cover is flushed. */
  private void storeBitmaps() throws IOException {
    PersistentBitmaps held = bitmaps;
    if (held == null || !held.needsStore()) {
      return;
    }
    writer.exclusive(() -> {
      held.store(writer.refcounts(), false);
      return null;
    });
  }

  /** The persistent dirty bitmaps in the order of the bitmap directory (QEMU's query of them). */
  public List<io.qcow4j.disk.DirtyBitmap> dirtyBitmaps() throws IOException {
    return BitmapOperations.list(bitmapsOrFail());
  }

  /**
   * Adds an empty persistent bitmap (qemu-img bitmap --add): {@code granularity} in bytes, 0 for
   * QEMU's default (the cluster size within 4 KiB..64 KiB); it records writes when {@code enabled}.
   * It reaches the file when the image is closed.
   */
  public void addBitmap(String bitmapName, long granularity, boolean enabled) throws IOException {
    PersistentBitmaps held = writableBitmaps();
    synchronized (held) {
      Header current = header();
      int bits = BitmapOperations.checkAdd(held, bitmapName, granularity, current.version(), current.size(),
          clusterSize, "#block152");
      held.add(new PersistentBitmaps.Bitmap(bitmapName, bits, enabled,
          PersistentBitmaps.newBits(name, bitmapName, current.size(), bits), null, null));
    }
  }

  /** Removes a bitmap from the image now, consistent or not (qemu-img bitmap --remove); its clusters are freed. */
  public void removeBitmap(String bitmapName) throws IOException {
    PersistentBitmaps held = writableBitmaps();
    synchronized (held) {
      PersistentBitmaps.Bitmap bitmap = BitmapOperations.lookup(held, bitmapName);
      held.remove(bitmap);
      writer.exclusive(() -> {
        // the others stay in use: this session still tracks them
        held.store(writer.refcounts(), true);
        rebuildGuard();
        return null;
      });
    }
  }

  /** Clears every bit of a bitmap (qemu-img bitmap --clear). */
  public void clearBitmap(String bitmapName) throws IOException {
    PersistentBitmaps held = writableBitmaps();
    synchronized (held) {
      BitmapOperations.consistent(BitmapOperations.lookup(held, bitmapName)).clear();
      held.changed();
    }
  }

  /** Makes a bitmap record writes (qemu-img bitmap --enable). */
  public void enableBitmap(String bitmapName) throws IOException {
    setEnabled(bitmapName, true);
  }

  /** Makes a bitmap stop recording writes (qemu-img bitmap --disable). */
  public void disableBitmap(String bitmapName) throws IOException {
    setEnabled(bitmapName, false);
  }

  private void setEnabled(String bitmapName, boolean enabled) throws IOException {
    PersistentBitmaps held = writableBitmaps();
    synchronized (held) {
      PersistentBitmaps.Bitmap bitmap = BitmapOperations.lookup(held, bitmapName);
      BitmapOperations.consistent(bitmap);
      bitmap.enabled = enabled;
      held.changed();
    }
  }

  /**
   * Sets in bitmap {@code target} every range that bitmap {@code sourceName} of {@code source} (this
   * image or another, of the same size) marks (qemu-img bitmap --merge, with -b for another image).
   */
  public void mergeBitmap(String target, QcowFile source, String sourceName) throws IOException {
    PersistentBitmaps held = writableBitmaps();
    PersistentBitmaps from = source == this ? held : Arguments.notNull(name, source, "source image").bitmapsOrFail();
    synchronized (held) {
      PersistentBitmaps.Bitmap into = BitmapOperations.lookup(held, target);
      PersistentBitmaps.Bitmap bitmap = BitmapOperations.lookup(from, sourceName);
      BitmapOperations.merge(into, bitmap, header().size(), source.header().size());
      held.changed();
    }
  }

  /**
   * The ranges of {@code [offset, offset + length)} that bitmap {@code bitmapName} marks dirty, in
   * order, each made of whole granularity units (cut to the range asked for).
   */
  public List<io.qcow4j.disk.DirtyRange> dirtyRanges(String bitmapName, long offset, long length) throws IOException {
    Arguments.position(name, offset);
    if (length < 0) {
      throw new IllegalArgumentException(name + ": negative length " + length);
    }
    PersistentBitmaps held = bitmapsOrFail();
    DirtyBits bits = BitmapOperations.consistent(BitmapOperations.lookup(held, bitmapName));
    return BitmapOperations.ranges(bits, offset, length, header().size());
  }

  /**
   * Whether the image, when opened, had a bitmaps extension whose autoclear bit a program without
   * bitmap support had cleared: every bitmap in it is inconsistent, QEMU warns as it opens such an
   * image, and a read-write open drops the extension (its clusters leak until a repair).
   */
  public boolean bitmapsInvalidated() {
    return bitmapsInvalidated;
  }

  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    IOException failure = null;
    if (writer != null && !header().corrupt() && !ejected) {
      try {
        storeBitmaps();
        writer.flushClean();
      } catch (IOException e) {
        failure = e;
      }
    }
    closed = true;
    for (AutoCloseable closeable : new AutoCloseable[] {backing, dataStorage == storage ? null : dataStorage, storage,
        encryption}) {
      if (closeable == null) {
        continue;
      }
      try {
        closeable.close();
      } catch (Exception e) {
        if (failure == null) {
          failure = e instanceof IOException io ? io : new IOException(e);
        }
      }
    }
    if (failure != null) {
      throw failure;
    }
  }
}
