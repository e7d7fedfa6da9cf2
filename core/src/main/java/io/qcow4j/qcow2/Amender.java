package io.qcow4j.qcow2;

import io.qcow4j.disk.AmendOptions;
import io.qcow4j.disk.Compat;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.KeySlotAmendment;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.qcow2.format.FeatureName;
import io.qcow4j.qcow2.format.Features;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.HeaderExtension;
import io.qcow4j.qcow2.format.L1Entry;
import io.qcow4j.qcow2.format.L2Entry;
import io.qcow4j.qcow2.format.Snapshot;
import io.qcow4j.qcow2.format.SnapshotTableCodec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * qemu-img amend for qcow2: the compat level (zero clusters expanded on a downgrade), lazy
 * refcounts, the refcount width (the refcount structures rebuilt) and the size. Runs with the
 * image's I/O drained and its metadata lock held, the caller having flushed.
 */
final class Amender {
  private final QcowFile image;
  private final String name;

  Amender(QcowFile image) {
    this.image = image;
    this.name = image.storage().name();
  }

  /**
   * Checks the changes in the order and with the messages of qemu-img 7.2's qcow2_amend_options
   * (all of them before anything changes), then upgrades, changes the refcount width, the lazy
   * refcounts bit and the size, and downgrades last.
   */
  void amend(AmendOptions options, io.qcow4j.disk.AmendProgress progress) throws IOException {
    Header header = image.header();
    int version = options.compat().map(Compat::version).orElse(header.version());
    KeySlotAmendment keySlots = options.keySlots().orElse(null);
    if (keySlots != null) {
      // the first options qcow2_amend_options looks at
      if (image.encryption() == null) {
        throw new InvalidOptionException("Can't amend encryption options - encryption not present");
      }
      if (image.encryption().legacy()) {
        throw new InvalidOptionException("Only LUKS encryption options can be amended");
      }
    }
    if (options.dataFile().isPresent() && !header.hasDataFile()) {
      throw new InvalidOptionException("data-file can only be set for images that use an external data file");
    }
    if (options.dataFileRaw().orElse(false) && !header.dataFileRaw()) {
      throw new InvalidOptionException("data-file-raw cannot be set on existing images");
    }
    int refcountBits = options.refcountBits().orElse(header.refcountBits());
    if (refcountBits <= 0 || refcountBits > 64 || Integer.bitCount(refcountBits) != 1) {
      throw new InvalidOptionException("Refcount width must be a power of two and may not exceed 64 bits");
    }
    // qcow2_amend_options: only a width other than 16 needs version 3 (compat=0.10 with
    // refcount_bits=16 rebuilds the refcounts, then downgrades)
    if (refcountBits != header.refcountBits() && version < 3 && refcountBits != 16) {
      throw new InvalidOptionException("Refcount widths other than 16 bits require compatibility level 1.1 or above"
          + " (use compat=1.1 or greater)");
    }
    checkBackingKept(options, header);
    boolean lazyAsked = options.lazyRefcounts().orElse(header.lazyRefcounts());
    if (lazyAsked && !header.lazyRefcounts() && version < 3) {
      throw new InvalidOptionException(
          "Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
    }
    if (version < header.version()) {
      checkDowngrade(header, refcountBits);
    }
    boolean lazy = lazyAsked && version >= 3;
    AmendReports reports = new AmendReports(progress, (version != header.version() ? 1 : 0)
        + (refcountBits != header.refcountBits() ? 1 : 0) + (keySlots != null ? 1 : 0));

    if (version >= 3 && image.header().version() < 3) {
      // qcow2_upgrade, before the resize: version 3 needs the VM state and disk sizes in every
      // entry's extra data, the disk size being the one it has now
      reports.begin(AmendReports.Operation.UPGRADING);
      reports.report(0, 2);
      if (Snapshots.anyIncomplete(image.snapshotTable())) {
        new Snapshots(image, image.writer().refcounts()).rewriteTable();
      }
      reports.report(1, 2);
      reports.report(2, 2);
    }
    // after qcow2_amend_options' checks and its upgrade, before the refcount and size changes
    if (keySlots != null) {
      reports.begin(AmendReports.Operation.UPDATING_ENCRYPTION);
      image.encryption().amendKeySlots(image.storage(), keySlots, name);
    }
    long newSize = options.size().orElse(0);
    if (newSize != 0 && newSize != header.size()) {
      if (version < 3 && !image.snapshotTable().isEmpty()) {
        // the resize of qcow2_amend_options comes after its upgrade: a v2 result keeps its size
        Resizer.refuseV2WithSnapshots(image);
      }
      Resizer.resizeLocked(image, newSize);
    }
    int refcountOrder = Integer.numberOfTrailingZeros(refcountBits);
    if (refcountOrder != image.header().refcountOrder()) {
      reports.begin(AmendReports.Operation.CHANGING_REFCOUNT_ORDER);
      new RefcountRebuild(image, refcountOrder).run(reports);
      // the old table and blocks are free now (a downgrade may take them): the guard follows
      image.rebuildGuard();
    }
    if (version < image.header().version()) {
      checkSnapshotsAllowDowngrade(header.size());
      reports.begin(AmendReports.Operation.DOWNGRADING);
      expandZeroClusters(reports);
    }
    Header current = image.header();
    if (options.dataFile().isPresent() || options.dataFileRaw().isPresent()) {
      Header changed = withDataFile(current, options);
      if (!changed.equals(current)) {
        image.rewriteHeaderArea(changed);
        current = image.header();
      }
    }
    long compatible = lazy ? current.compatibleFeatures() | Features.COMPAT_LAZY_REFCOUNTS
        : current.compatibleFeatures() & ~Features.COMPAT_LAZY_REFCOUNTS;
    if (version != current.version() || compatible != current.compatibleFeatures()) {
      image.rewriteHeaderArea(withVersion(current, version, compatible));
    }
  }

  /**
   * qcow2_amend_options: data_file_raw=off clears the raw flag (on is refused unless set), and
   * data_file records another name for the external data file, or none when empty (the image then
   * opens only with a data-file option); the data file open now stays as it is.
   */
  private static Header withDataFile(Header header, AmendOptions options) {
    long autoclear = header.autoclearFeatures();
    if (options.dataFileRaw().isPresent() && !options.dataFileRaw().get()) {
      autoclear &= ~Features.AUTOCLEAR_DATA_FILE_RAW;
    }
    List<HeaderExtension> extensions = new ArrayList<>(header.extensions());
    if (options.dataFile().isPresent()) {
      extensions.removeIf(extension -> extension.type() == HeaderExtension.EXTERNAL_DATA_FILE);
      String dataFile = options.dataFile().get();
      if (!dataFile.isEmpty()) {
        extensions.add(new HeaderExtension(HeaderExtension.EXTERNAL_DATA_FILE,
            dataFile.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
      }
    }
    return new Header(header.version(), header.backingFileOffset(), header.backingFileSize(), header.clusterBits(),
        header.size(), header.cryptMethod(), header.l1Size(), header.l1TableOffset(), header.refcountTableOffset(),
        header.refcountTableClusters(), header.snapshotCount(), header.snapshotsOffset(),
        header.incompatibleFeatures(), header.compatibleFeatures(), autoclear, header.refcountOrder(),
        header.headerLength(), header.compressionType(), extensions, header.backingFile());
  }

  /** qcow2_amend_options: a backing file or format other than the image's is refused. */
  private static void checkBackingKept(AmendOptions options, Header header) throws InvalidOptionException {
    if (options.backingFile().isEmpty() && options.backingFormat().isEmpty()) {
      return;
    }
    if (!Objects.equals(options.backingFile().orElse(null), header.backingFile())
        || !options.backingFormat().equals(header.backingFormat())) {
      // QEMU's words; the command line names itself in the hint
      throw new InvalidOptionException("Cannot amend the backing file\nYou can use 'qemu-img rebase' instead.");
    }
  }

  /** qcow2_downgrade's refusals, in its order. */
  private void checkDowngrade(Header header, int refcountBits) throws IOException {
    if (refcountBits != 16) {
      throw new UnsupportedFeatureException("compat=0.10 requires refcount_bits=16");
    }
    if (header.hasDataFile()) {
      throw new UnsupportedFeatureException("Cannot downgrade an image with a data file");
    }
    long blocking = header.incompatibleFeatures() & ~Features.INCOMPAT_DIRTY;
    if (blocking != 0) {
      throw new UnsupportedFeatureException(
          "Cannot downgrade an image with incompatible features 0x" + Long.toHexString(blocking) + " set");
    }
  }

  /**
   * qcow2_downgrade, after the resize: a snapshot of another disk size than the image's now, or
   * with a VM state past 4 GiB, needs version 3's extra data; {@code sizeAtOpen} is the size an
   * entry without one has (QEMU reads it so).
   */
  private void checkSnapshotsAllowDowngrade(long sizeAtOpen) throws UnsupportedFeatureException {
    long size = image.header().size();
    for (Snapshot snapshot : image.snapshotTable()) {
      long diskSize = snapshot.diskSize() == -1 ? sizeAtOpen : snapshot.diskSize();
      if (Long.compareUnsigned(snapshot.vmStateSize(), 0xffffffffL) > 0 || diskSize != size) {
        throw new UnsupportedFeatureException("Internal snapshots prevent downgrade of image");
      }
    }
  }

  /**
   * Rewrites every zero cluster of the active tree so that it reads as zeros without the zero flag:
   * unallocated where nothing shows through, else a zeroed host cluster of its own.
   */
  private void expandZeroClusters(AmendReports reports) throws IOException {
    WritePath writer = image.writer();
    ClusterLookup lookup = image.lookup();
    int clusterSize = image.header().clusterSize();
    boolean hasBacking = image.backingDisk() != null;
    // qcow2_expand_zero_clusters reports one step per L1 entry, the active table's and then each
    // snapshot's, of all of them
    long l1Entries = lookup.l1().length;
    for (Snapshot snapshot : image.snapshotTable()) {
      l1Entries += snapshot.l1Size();
    }
    long visited = 0;
    try {
      visited = expandActiveZeroClusters(reports, l1Entries);
    } catch (io.qcow4j.disk.CorruptImageException e) {
      throw zeroExpansionFailed(e);
    }
    writer.flush();
    // then the snapshots' trees, read from the file (qcow2_expand_zero_clusters), their L2 tables
    // rewritten in place; an L2 table the active tree still shares holds no zero cluster by now
    for (Snapshot snapshot : image.snapshotTable()) {
      // an invalid snapshot L1 table is reported as itself (not a corruption event), as QEMU's
      SnapshotTableCodec.validateL1(name, snapshot, clusterSize);
      ByteBuffer l1Bytes = ByteBuffer.allocate(snapshot.l1Size() * 8);
      image.storage().readOrZero(l1Bytes, snapshot.l1TableOffset());
      l1Bytes.flip();
      for (int index = 0; index < snapshot.l1Size(); index++) {
        long l2Offset = L1Entry.l2Offset(l1Bytes.getLong(index * 8));
        if (l2Offset != 0) {
          try {
            expandInactiveL2(l2Offset, index, hasBacking);
          } catch (io.qcow4j.disk.CorruptImageException e) {
            throw zeroExpansionFailed(e);
          }
        }
        reports.report(++visited, l1Entries);
      }
    }
    writer.flush();
    lookup.clearCache();
  }

  /**
   * qcow2_downgrade's failure when the expansion meets a corruption: the corruption signalled (a
   * writable image marked corrupt), the amend failed with EIO.
   */
  private IOException zeroExpansionFailed(io.qcow4j.disk.CorruptImageException corruption) {
    return new IOException("Failed to turn zero into data clusters: Input/output error",
        image.signalCorruption(corruption));
  }

  /** The active tree's part of {@link #expandZeroClusters}; returns the L1 entries reported. */
  private long expandActiveZeroClusters(AmendReports reports, long l1Entries) throws IOException {
    WritePath writer = image.writer();
    ClusterLookup lookup = image.lookup();
    Refcounts refcounts = writer.refcounts();
    int clusterSize = image.header().clusterSize();
    boolean hasBacking = image.backingDisk() != null;
    long size = image.size();
    long bytesPerTable = lookup.bytesPerL2Table();
    long visited = 0;
    for (long guest = 0; guest < size; guest += clusterSize) {
      long l1Index = guest / bytesPerTable;
      while (visited < l1Index) {
        reports.report(++visited, l1Entries);
      }
      if (L1Entry.l2Offset(lookup.l1()[(int) l1Index]) == 0) {
        guest = (l1Index + 1) * bytesPerTable - clusterSize;
        continue;
      }
      long entry = lookup.entryWords(guest)[0];
      if (L2Entry.compressed(entry) || (entry & L2Entry.ZERO) == 0) {
        continue;
      }
      ClusterLookup.Slot slot = lookup.writableSlot(guest, refcounts);
      // an unaligned preallocated cluster is refused with QEMU's event, before anything is zeroed
      long host = L2Entry.hostOffset(entry) == 0 ? 0 : lookup.checkedHostOf(guest, entry);
      if (host != 0 && L2Entry.copied(entry)) {
        image.guard().check(host, clusterSize, OverlapGuard.NONE, refcounts.ownedEnd(), "zeroing of a zero cluster");
        image.storage().zeroRange(host, clusterSize);
        lookup.store(slot, L2Entry.data(host, true), 0);
      } else if (hasBacking && guest < image.backingDisk().size()) {
        long fresh = refcounts.allocate(1);
        image.storage().zeroRange(fresh, clusterSize);
        lookup.store(slot, L2Entry.data(fresh, true), 0);
      } else {
        lookup.store(slot, 0, 0);
      }
      if (host != 0 && !L2Entry.copied(entry)) {
        refcounts.freeLater(host, clusterSize);
      }
    }
    while (visited < lookup.l1().length) {
      reports.report(++visited, l1Entries);
    }
    return visited;
  }

  /**
   * expand_zero_clusters_in_l1 for an L2 table of a snapshot: a zero cluster without a host cluster
   * becomes unallocated without a backing file, else a zeroed host cluster of its own (counted once
   * per owner of the L2 table); one with a host cluster keeps it, zeroed.
   */
  private void expandInactiveL2(long l2Offset, int l1Index, boolean hasBacking) throws IOException {
    int clusterSize = image.header().clusterSize();
    Refcounts refcounts = image.writer().refcounts();
    OverlapGuard guard = image.guard();
    if ((l2Offset & (clusterSize - 1)) != 0) {
      throw new io.qcow4j.disk.CorruptImageException(String.format("%s: L2 table offset %#x unaligned (L1 index: %#x)",
          name, l2Offset, l1Index));
    }
    long l2Refcount = refcounts.get(l2Offset / clusterSize);
    ByteBuffer table = ByteBuffer.allocate(clusterSize);
    image.storage().readOrZero(table, l2Offset);
    boolean dirty = false;
    for (int index = 0; index < clusterSize / 8; index++) {
      long entry = table.getLong(index * 8);
      if (L2Entry.compressed(entry) || (entry & L2Entry.ZERO) == 0) {
        continue;
      }
      long host = L2Entry.hostOffset(entry);
      if (host == 0) {
        if (!hasBacking) {
          table.putLong(index * 8, 0);
          dirty = true;
          continue;
        }
        host = refcounts.allocate(1);
        if (l2Refcount > 1) {
          refcounts.setRefcount(host / clusterSize, l2Refcount);
        }
      }
      if ((host & (clusterSize - 1)) != 0) {
        throw new io.qcow4j.disk.CorruptImageException(String.format(
            "%s: Cluster allocation offset %#x unaligned (L2 offset: %#x, L2 index: %#x)", name, host, l2Offset, index));
      }
      guard.check(host, clusterSize, OverlapGuard.NONE, refcounts.ownedEnd(), "zeroing of a snapshot's zero cluster");
      image.storage().zeroRange(host, clusterSize);
      table.putLong(index * 8, L2Entry.data(host, l2Refcount == 1));
      dirty = true;
    }
    if (dirty) {
      guard.check(l2Offset, clusterSize, OverlapGuard.Structure.ACTIVE_L2.bit() | OverlapGuard.Structure.SHARED_L2.bit()
          | OverlapGuard.Structure.INACTIVE_L2.bit(), refcounts.ownedEnd(),
          "write of a snapshot's L2 table");
      image.writer().flush();
      image.storage().write(table.clear(), l2Offset);
      image.lookup().forgetTable(l2Offset);
    }
  }

  private static Header withVersion(Header header, int version, long compatible) {
    List<HeaderExtension> extensions = new ArrayList<>();
    for (HeaderExtension extension : header.extensions()) {
      if (version >= 3 || extension.type() == HeaderExtension.BACKING_FORMAT) {
        extensions.add(extension);
      }
    }
    if (version >= 3 && header.extension(HeaderExtension.FEATURE_NAME_TABLE).isEmpty()
        && FeatureName.tableWritten(header.clusterSize())) {
      extensions.add(new HeaderExtension(HeaderExtension.FEATURE_NAME_TABLE, FeatureName.encodeKnownTable()));
    }
    boolean v3 = version >= 3;
    return new Header(version, header.backingFileOffset(), header.backingFileSize(), header.clusterBits(),
        header.size(), header.cryptMethod(), header.l1Size(), header.l1TableOffset(), header.refcountTableOffset(),
        header.refcountTableClusters(), header.snapshotCount(), header.snapshotsOffset(),
        v3 ? header.incompatibleFeatures() : 0, v3 ? compatible : 0, v3 ? header.autoclearFeatures() : 0,
        v3 ? header.refcountOrder() : 4, v3 ? Math.max(header.headerLength(), Header.V3_LENGTH) : Header.V2_LENGTH,
        v3 ? header.compressionType() : 0, extensions, header.backingFile());
  }

  /** Refuses a header that does not fit in the first cluster. */
  static void checkFits(Header header, int encodedLength) throws ImageLimitException {
    if (encodedLength > header.clusterSize()) {
      throw new ImageLimitException("the header with its extensions and backing file name needs " + encodedLength
          + " bytes, more than the first cluster holds (" + header.clusterSize() + ")");
    }
  }
}
