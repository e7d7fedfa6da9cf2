package io.qcow4j.qcow2;

import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.SnapshotLoadException;
import io.qcow4j.disk.SnapshotSelector;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.internal.storagenodes.StorageNodes;
import io.qcow4j.spec.BlockNode;
import io.qcow4j.internal.storage.LockRequest;
import io.qcow4j.qcow2.format.Features;
import io.qcow4j.qcow2.format.CryptoHeader;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.HeaderCodec;
import io.qcow4j.qcow2.format.Snapshot;
import io.qcow4j.qcow2.format.SnapshotTableCodec;
import io.qcow4j.spec.FormatOptions;
import io.qcow4j.spec.ImageSpecException;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Opens qcow2 images: reads and vets the header, L1 table and snapshot table,
 * opens the external data file and the backing chain, and closes what it opened when an open fails.
 */
final class ImageOpener {
  private ImageOpener() {}

  /** Opens the qcow2 image at {@code path} and, as the options say, its backing chain. */
  static QcowFile open(Path path, OpenOptions options) throws IOException {
    return open(path, options, LayerOverrides.NONE);
  }

  /** As {@link #open(Path, OpenOptions)}, with what an image spec changes about the image. */
  static QcowFile open(Path path, OpenOptions options, LayerOverrides overrides) throws IOException {
    boolean repair = !options.readOnly() && needsRepair(readStart(path));
    QcowFile image = openLayer(path, options, 0, Set.of(), repair, overrides);
    return repair ? repairedAtOpen(image) : image;
  }

  /**
   * Whether the start of an image is a v3 qcow2 header with the dirty bit and without the corrupt
   * bit: a read-write open repairs such an image (a corrupt one is refused).
   */
  private static boolean needsRepair(ByteBuffer fixed) {
    // the fixed fields up to the incompatible features
    if (fixed.position() < 80 || fixed.getInt(0) != Header.MAGIC || fixed.getInt(4) < 3) {
      return false;
    }
    long incompatible = fixed.getLong(72);
    return (incompatible & Features.INCOMPAT_DIRTY) != 0 && (incompatible & Features.INCOMPAT_CORRUPT) == 0;
  }

  /** The first 80 bytes of the file, or all of a shorter one: the buffer's position says how many. */
  private static ByteBuffer readStart(Path path) throws IOException {
    try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
      ByteBuffer start = ByteBuffer.allocate(80);
      while (start.hasRemaining() && channel.read(start, start.position()) > 0) {
        // keep reading until the buffer is full or the file ends
      }
      return start;
    }
  }

  /** The first 80 bytes held by {@code storage}, or all of a shorter one: the buffer's position says how many. */
  private static ByteBuffer readStart(Storage storage) throws IOException {
    ByteBuffer start = ByteBuffer.allocate((int) Math.min(80, storage.size()));
    storage.readFully(start, 0);
    return start;
  }

  /**
   * Repairs a dirty lazy-refcounts image just opened read-write, before anything is written to it
   * (invariant 5), as QEMU's open does (qcow2_do_open: a check with BDRV_FIX_ERRORS | BDRV_FIX_LEAKS);
   * an image the check leaves dirty is closed and refused.
   */
  private static QcowFile repairedAtOpen(QcowFile image) throws IOException {
    try {
      CheckResult result = image.check(CheckResult.Repair.ALL);
      if (image.header().dirty()) {
        throw new UnsupportedFeatureException(image.storageName() + ": image is dirty (lazy refcounts were not written back) "
            + "and its repair left " + result.corruptions() + " errors and " + result.leaks() + " leaks; "
            + "it cannot be opened read-write");
      }
      image.setRepairedAtOpen(result.messages());
      return image;
    } catch (IOException | RuntimeException e) {
      closeAll(List.of(image));
      throw e;
    }
  }

  /**
   * Opens a qcow2 image held by {@code storage} (for tests and embedders with their own storage);
   * {@code path} (nullable) names it and anchors relative backing and data file names.
   */
  static QcowFile open(Storage storage, Path path, OpenOptions options) throws IOException {
    return open(storage, path, options, LayerOverrides.NONE);
  }

  /** As {@link #open(Storage, Path, OpenOptions)}, with what an image spec changes about the image. */
  static QcowFile open(Storage storage, Path path, OpenOptions options, LayerOverrides overrides) throws IOException {
    boolean repair;
    try {
      repair = !options.readOnly() && needsRepair(readStart(storage));
    } catch (IOException | RuntimeException e) {
      closeAll(List.of(storage));
      throw e;
    }
    QcowFile image = openOwning(path, storage, options, 0, Set.of(), repair, overrides);
    return repair ? repairedAtOpen(image) : image;
  }

  /**
   * Opens the image at {@code path} as layer {@code depth} of a chain below {@code chainAbove};
   * {@code repairing}: for check, which opens corrupt and dirty images read-write too.
   */
  static QcowFile openLayer(Path path, OpenOptions options, int depth, Set<Path> chainAbove,
      boolean repairing) throws IOException {
    return openLayer(path, options, depth, chainAbove, repairing, LayerOverrides.NONE);
  }

  /** As {@link #openLayer(Path, OpenOptions, int, Set, boolean)}, with what an image spec changes. */
  static QcowFile openLayer(Path path, OpenOptions options, int depth, Set<Path> chainAbove,
      boolean repairing, LayerOverrides overrides) throws IOException {
    return openOwning(path, FileStorage.open(path, options.readOnly(), LockRequest.forImageFile(options)).flushingAs(options), options,
        depth, chainAbove, repairing, overrides);
  }

  /** A layer of a chain held by {@code storage} (a backing file whose JSON name stacks nodes); closed on failure. */
  static QcowFile openLayerOn(Storage storage, Path path, OpenOptions options, int depth, Set<Path> chainAbove,
      LayerOverrides overrides) throws IOException {
    return openOwning(path, storage, options, depth, chainAbove, false, overrides);
  }

  /** Opens the image in {@code storage}; a failed open closes the storage and all that it opened. */
  private static QcowFile openOwning(Path path, Storage storage, OpenOptions options, int depth,
      Set<Path> chainAbove, boolean repairing, LayerOverrides overrides) throws IOException {
    List<AutoCloseable> opened = new ArrayList<>();
    opened.add(storage);
    try {
      QcowFile file = openOn(path, storage, options, depth, chainAbove, opened, repairing, overrides);
      opened.clear();
      return file;
    } finally {
      closeAll(opened);
    }
  }

  private static void closeAll(List<AutoCloseable> opened) {
    for (AutoCloseable closeable : opened.reversed()) {
      try {
        closeable.close();
      } catch (Exception e) {
        // The open already failed; the first failure is the one to report.
      }
    }
  }

  private static QcowFile openOn(Path path, Storage storage, OpenOptions options, int depth, Set<Path> chainAbove,
      List<AutoCloseable> opened, boolean repairing, LayerOverrides overrides) throws IOException {
    String name = storage.name();
    long size = storage.size();
    ByteBuffer fixed = ByteBuffer.allocate((int) Math.min(HeaderCodec.FIXED_PART_BYTES, size));
    storage.readFully(fixed, 0);
    int clusterSize = HeaderCodec.clusterSizeOf(name, fixed.flip());
    ByteBuffer firstCluster = ByteBuffer.allocate((int) Math.min(clusterSize, size));
    storage.readFully(firstCluster, 0);
    Header header = HeaderCodec.decode(name, firstCluster.flip(), size, repairing);
    overrides.options().checkQcow2(header.version(), header.clusterSize(), header.size(), header.extendedL2(),
        header.hasDataFile(), header.cryptMethod() != 0);

    if (header.corrupt() && !options.readOnly() && !repairing) {
      throw new CorruptImageException(name + ": qcow2: Image is corrupt; cannot be opened read/write");
    }
    if (header.dirty() && !options.readOnly() && !repairing) {
      throw new UnsupportedFeatureException(name + ": image is dirty (lazy refcounts were not written back); "
          + "it needs a refcount repair (check -r all) before it can be opened read-write");
    }
    // as QEMU in check mode (BDRV_O_CHECK), a check reads the table itself, repairing it with -r all
    SnapshotTableReader.Result table = repairing ? SnapshotTableReader.Result.EMPTY
        : SnapshotTableReader.read(name, storage, header.snapshotsOffset(),
            Integer.toUnsignedLong(header.snapshotCount()), false);
    List<Snapshot> snapshots = table.snapshots();
    Snapshot loaded = depth == 0 && options.snapshot() != null ? loadedSnapshot(name, options, snapshots,
        header.clusterSize()) : null;
    if (loaded != null) {
      // QEMU's qcow2_snapshot_load_tmp: the snapshot's L1 table read in place of the active one
      header = header.withSizeAndL1(header.size(), loaded.l1TableOffset(), loaded.l1Size());
    }
    long[] l1 = readL1(storage, header);

    Storage dataStorage = storage;
    Path dataPath = path;
    BlockNode dataNode = overrides.options().dataFileNode();
    if (options.describeOnly()) {
      // qemu-img info (BDRV_O_NO_IO) opens no data file, neither the recorded one nor one it is given
      if (header.hasDataFile()) {
        String recorded = header.dataFile().orElse(null);
        dataPath = recorded == null || recorded.isEmpty() ? null : DataFilePaths.of(name, recorded);
        dataStorage = new UnopenedDataFile(recorded == null ? name : recorded);
      }
    } else if (!header.hasDataFile() && (overrides.options().dataFile() != null || dataNode != null)) {
      // QEMU opens the data file it is given before it finds that the image has none
      if (dataNode != null) {
        StorageNodes.storage(dataNode, options.withReadOnly(true), StorageNodes.DiskNodes.NONE).close();
      } else {
        FileStorage.open(Path.of(overrides.options().dataFile()), true, LockRequest.NONE).close();
      }
      throw new ImageSpecException("'data-file' can only be set for images with an external data file");
    } else if (header.hasDataFile() && dataNode != null) {
      // a node the spec stacks for the data file (null-co, raw over blkdebug...)
      dataPath = StorageNodes.bottomPath(dataNode);
      dataStorage = StorageNodes.storage(dataNode, options, StorageNodes.DiskNodes.NONE);
      opened.add(dataStorage);
    } else if (header.hasDataFile() && overrides.options().dataFile() != null) {
      // a data file the spec names, relative to the working directory as QEMU's data-file.filename is
      dataPath = Path.of(overrides.options().dataFile());
      dataStorage = FileStorage.open(dataPath, options.readOnly(), LockRequest.forDataFile(options)).flushingAs(options);
      opened.add(dataStorage);
    } else if (header.hasDataFile()) {
      // QEMU's words: without a recorded name, only a data-file option can name it
      String dataName = header.dataFile().orElseThrow(() -> new UnsupportedFeatureException(name
          + ": 'data-file' is required for this image"));
      // relative to the working directory, as QEMU opens the recorded name
      dataPath = DataFilePaths.of(name, dataName);
      dataStorage = FileStorage.open(dataPath, options.readOnly(), LockRequest.forDataFile(options)).flushingAs(options);
      opened.add(dataStorage);
    }

    Set<Path> chain = new java.util.HashSet<>(chainAbove);
    if (path != null) {
      chain.add(path.toRealPath());
    }
    DiskFile backing = null;
    boolean backingNamed = header.backingFile() != null
        || overrides.options().backing() instanceof FormatOptions.Override;
    if (backingNamed && options.backingPolicy() != io.qcow4j.disk.BackingPolicy.IGNORE) {
      backing = BackingChain.open(path, header.backingFile(), header.backingFormat().orElse(null), options,
          depth + 1, chain, overrides);
      opened.add(backing);
    }
    QcowEncryption encryption = openEncryption(name, storage, header, options, overrides);
    if (encryption != null) {
      opened.add(encryption);
    }
    QcowFile image = new QcowFile(path, storage, dataStorage, dataPath, header, l1, snapshots, table.tableBytes(),
        backing, options,
        loaded, encryption, overrides.options().overlapChecks());
    image.overrideLazyRefcounts(overrides.options().lazyRefcounts());
    return image;
  }

  /**
   * The LUKS encryption of an image with crypt_method 2, unlocked with the spec's
   * encrypt.key-secret or the options' key secret (QEMU's messages when there is none or it opens
   * no slot), or only read when the image is opened to be described; null without encryption.
   */
  private static QcowEncryption openEncryption(String name, Storage storage, Header header, OpenOptions options,
      LayerOverrides overrides) throws IOException {
    if (header.cryptMethod() == 0) {
      return null;
    }
    String keySecret = overrides.options().keySecret();
    byte[] password = null;
    if (!options.describeOnly()) {
      password = keySecret != null ? overrides.secrets().bytes(keySecret) : options.keySecret();
    }
    if (header.cryptMethod() == Header.CRYPT_AES) {
      // read and written as QEMU's tools do (only its system emulators refuse the method)
      return QcowEncryption.legacyAes(password, options.describeOnly(), name);
    }
    CryptoHeader area = CryptoHeader.of(header);
    if (area == null) {
      if (password != null) {
        java.util.Arrays.fill(password, (byte) 0);
      }
      if (options.describeOnly()) {
        return null;
      }
      throw new CorruptImageException(name + ": Missing CRYPTO header for crypt method " + header.cryptMethod());
    }
    return QcowEncryption.open(storage, area, password, options.describeOnly(), name);
  }

  /** The snapshot {@code options} select, found as QEMU finds it; the image must be opened read-only. */
  private static Snapshot loadedSnapshot(String name, OpenOptions options, List<Snapshot> snapshots,
      int clusterSize) throws IOException {
    Snapshot found = findLoaded(name, options, snapshots);
    // qcow2_snapshot_load_tmp checks the snapshot's L1 table only now
    String problem = SnapshotTableCodec.l1Problem(found, clusterSize);
    if (problem != null) {
      throw new SnapshotLoadException(name, problem);
    }
    return found;
  }

  private static Snapshot findLoaded(String name, OpenOptions options, List<Snapshot> snapshots)
      throws IOException {
    SnapshotSelector selector = options.snapshot();
    if (!options.readOnly()) {
      throw new SnapshotLoadException(name, "an internal snapshot can only be loaded read-only");
    }
    for (Snapshot snapshot : snapshots) {
      if (selector.idOrName() ? snapshot.id().equals(selector.id()) : selector.matches(snapshot.id(), snapshot.name())) {
        return snapshot;
      }
    }
    if (selector.idOrName()) {
      for (Snapshot snapshot : snapshots) {
        if (snapshot.name().equals(selector.name())) {
          return snapshot;
        }
      }
    }
    throw new SnapshotLoadException(name, "Can't find snapshot");
  }

  /** The active L1 table, read in pieces of at most 1 MiB so that a large one (up to 32 MiB) is held once only. */
  private static long[] readL1(Storage storage, Header header) throws IOException {
    int entries = header.l1Size();
    long[] l1 = new long[entries];
    int pieceEntries = 1 << 17;
    ByteBuffer bytes = ByteBuffer.allocate(Math.min(entries, pieceEntries) * 8);
    for (int first = 0; first < entries; first += pieceEntries) {
      int count = Math.min(pieceEntries, entries - first);
      bytes.clear().limit(count * 8);
      // inside the file, except for a check, which reads zeros past its end as QEMU does
      storage.readOrZero(bytes, header.l1TableOffset() + first * 8L);
      bytes.flip().asLongBuffer().get(l1, first, count);
    }
    return l1;
  }

  /** The refcount table of an image opened read-only, for the overlap guard. */
  static long[] readRefcountTable(Storage storage, Header header) throws IOException {
    ByteBuffer bytes = ByteBuffer.allocate(header.refcountTableClusters() * header.clusterSize());
    storage.readOrZero(bytes, header.refcountTableOffset());
    long[] table = new long[bytes.capacity() / 8];
    bytes.flip().asLongBuffer().get(table);
    return table;
  }
}
