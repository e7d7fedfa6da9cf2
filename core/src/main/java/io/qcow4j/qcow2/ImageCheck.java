package io.qcow4j.qcow2;

import io.qcow4j.disk.CheckFailedException;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.qcow2.format.BitmapDirectoryCodec;
import io.qcow4j.qcow2.format.CryptoHeader;
import io.qcow4j.qcow2.format.CompressedDescriptor;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.HeaderExtension;
import io.qcow4j.qcow2.format.L1Entry;
import io.qcow4j.qcow2.format.L2Entry;
import io.qcow4j.qcow2.format.RefcountBlock;
import io.qcow4j.qcow2.format.RefcountTableEntry;
import io.qcow4j.qcow2.format.Snapshot;
import io.qcow4j.qcow2.format.SnapshotTableCodec;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The consistency check of qemu-img check: counts every reference the metadata makes to host
 * clusters, compares the counts with the stored refcounts and the COPIED flags with them, and
 * repairs what it is asked to.
 */
final class ImageCheck {
  private final QcowFile image;
  private final Storage storage;
  private final Header header;
  /** The refcounts checked: the image's, or after a rebuild the new ones. */
  private Refcounts refcounts;
  private final CheckResult.Repair repair;
  private final int clusterBits;
  private final int clusterSize;
  private final boolean extendedL2;
  private final boolean hasDataFile;
  private final ReferenceCounts references;
  private final List<String> messages = new ArrayList<>();
  private final java.util.Set<Long> badBlocks = new java.util.HashSet<>();
  /** The refcount table as the file holds it (reserved bits included), read by {@link #check}. */
  private long[] refcountTable = new long[0];
  /**
   * Refcount blocks whose table entry has reserved bits, read here with the bits masked off as
   * qemu-img reads them (the engine refuses such an entry).
   */
  private final Map<Long, byte[]> maskedBlocks = new java.util.HashMap<>();
  /** Refcount blocks whose table entry points past the end of the file: their refcounts read as 0, as in qemu-img. */
  private final java.util.Set<Long> blocksPastEnd = new java.util.HashSet<>();
  /** Refcount blocks whose table entry no read can reach (bit 63 set): every refcount in them is a check error. */
  private final java.util.Set<Long> unreadableBlocks = new java.util.HashSet<>();
  private boolean unalignedBlockReported;
  private final long refcountsPerBlock;
  /** The largest refcount of the image's width (unsigned). */
  private final long maxRefcount;
  private final long fileLength;

  private long corruptions;
  private long leaks;
  private long corruptionsFixed;
  private long leaksFixed;
  private long checkErrors;
  private long allocated;
  private long fragmented;
  private long compressed;
  private long nextContiguous;
  private boolean rebuildNeeded;
  private boolean surveyForLeakRepair;
  private boolean repairCopied;

  private ImageCheck(QcowFile image, Refcounts refcounts, CheckResult.Repair repair) throws IOException {
    this.image = image;
    this.storage = image.storage();
    this.header = image.header();
    this.refcounts = refcounts;
    this.repair = repair;
    this.clusterBits = header.clusterBits();
    this.clusterSize = header.clusterSize();
    this.extendedL2 = header.extendedL2();
    this.hasDataFile = header.hasDataFile();
    this.refcountsPerBlock = io.qcow4j.qcow2.format.RefcountBlock.entries(clusterSize, header.refcountOrder());
    this.maxRefcount = RefcountBlock.maxValue(header.refcountOrder());
    this.fileLength = storage.size();
    this.references = new ReferenceCounts((fileLength + clusterSize - 1) >>> clusterBits);
  }

  /**
   * Checks the image and, when asked, repairs it; after a repair the image is checked again and the
   * result describes it as it is then, with the counts of what was fixed.
   */
  static CheckResult run(QcowFile image, Refcounts refcounts, CheckResult.Repair repair) throws IOException {
    SnapshotTableCheck snapshots = SnapshotTableCheck.run(image, repair);
    CheckResult result = runOnTable(image, refcounts, repair, snapshots);
    if (snapshots.messages().isEmpty()) {
      return result;
    }
    List<String> lines = new ArrayList<>(snapshots.messages());
    lines.addAll(result.messages());
    return new CheckResult(result.filename(), result.format(), result.checkErrors(), result.corruptions(),
        result.leaks(), result.corruptionsFixed(), result.leaksFixed(), result.imageEndOffset(),
        result.totalClusters(), result.allocatedClusters(), result.fragmentedClusters(),
        result.compressedClusters(), List.copyOf(lines));
  }

  private static CheckResult runOnTable(QcowFile image, Refcounts refcounts, CheckResult.Repair repair,
      SnapshotTableCheck snapshots) throws IOException {
    if (repair == CheckResult.Repair.LEAKS) {
      // As qemu-img: a referenced cluster without a refcount needs the refcounts rebuilt, which
      // only -r all does; -r leaks then repairs nothing and the check fails.
      ImageCheck survey = new ImageCheck(image, refcounts, CheckResult.Repair.NONE);
      survey.surveyForLeakRepair = true;
      survey.check();
      if (survey.rebuildNeeded) {
        // qcow2_check_refcounts fails the check here (-EIO): qemu-img prints no summary
        survey.messages.add("ERROR need to rebuild refcount structures");
        throw new CheckFailedException(image.storage().name() + ": the refcount structures need a rebuild"
            + " (check -r all)", "Input/output error", survey.messages);
      }
    }
    ImageCheck first = new ImageCheck(image, refcounts, repair);
    // the snapshot table's own problems: the overhanging entries, already fixed
    first.corruptionsFixed += snapshots.overhanging();
    first.check();
    if (repair == CheckResult.Repair.ALL && first.incompleteSnapshots + snapshots.extraDataDropped() > 0) {
      // qcow2_check_fix_snapshot_table, after the refcounts are sound: the table rewritten whole,
      // its corruptions (entries without the disk size, extra data cut) fixed
      new Snapshots(image, image.writer().refcounts()).rewriteTable();
      first.corruptions -= first.incompleteSnapshots;
      first.corruptionsFixed += first.incompleteSnapshots + snapshots.extraDataDropped();
    }
    if (repair == CheckResult.Repair.NONE || first.corruptionsFixed + first.leaksFixed == 0) {
      return first.result(0, 0, first.messages);
    }
    image.writer().flush();
    // a rebuild replaced the refcounts: the writer's are the current ones
    ImageCheck second = new ImageCheck(image, image.writer().refcounts(), CheckResult.Repair.NONE);
    second.check();
    List<String> all = new ArrayList<>(first.messages);
    all.addAll(second.messages);
    return second.result(first.corruptionsFixed, first.leaksFixed, all);
  }

  private CheckResult result(long fixedCorruptions, long fixedLeaks, List<String> lines) throws IOException {
    long totalClusters = (header.size() + clusterSize - 1) >>> clusterBits;
    return new CheckResult(storage.name(), "qcow2", checkErrors, corruptions, leaks, fixedCorruptions, fixedLeaks,
        imageEnd(), totalClusters, allocated, fragmented, compressed, List.copyOf(lines));
  }

  private long highestUsed = -1;

  private long imageEnd() {
    // As qemu-img: the highest cluster in use starts at 0, so the end is at least one cluster.
    return (Math.max(highestUsed, 0) + 1) << clusterBits;
  }

  /** Snapshot table entries of a version 3 image without the disk size in their extra data. */
  private int incompleteSnapshots;

  /**
   * QEMU's qcow2_check_read_snapshot_table: every entry of a version 3 image needs the 64-bit VM
   * state size and the disk size in its extra data (16 bytes); one without is a corruption, which
   * -r all repairs by rewriting the table.
   */
  private void checkSnapshotEntries() {
    if (header.version() < 3) {
      return;
    }
    List<Snapshot> table = image.snapshotTable();
    for (int index = 0; index < table.size(); index++) {
      if (table.get(index).diskSize() == -1) {
        incompleteSnapshots++;
        corruptions++;
        messages.add((repair == CheckResult.Repair.ALL ? "Repairing" : "ERROR") + " snapshot table entry " + index
            + " is incomplete");
      }
    }
  }

  private void check() throws IOException {
    checkSnapshotEntries();
    countReferences();
    compareRefcounts();
    if (surveyForLeakRepair && rebuildNeeded) {
      return;
    }
    checkCopiedFlags(image.lookup().l1());
  }

  /** Counts every reference the metadata makes (QEMU's calculate_refcounts). */
  private void countReferences() throws IOException {
    count(0, clusterSize);
    long[] l1 = image.lookup().l1();
    count(header.l1TableOffset(), (long) header.l1Size() * 8);
    walkL1(l1, true);
    for (Snapshot snapshot : image.snapshotTable()) {
      // QEMU's check_refcounts: an unaligned or oversized snapshot L1 table is a corruption, not walked
      if ((snapshot.l1TableOffset() & (clusterSize - 1)) != 0) {
        corruption(String.format("ERROR snapshot %s (%s) l1_offset=%#x: L1 table is not cluster aligned; snapshot"
            + " table entry corrupted", snapshot.id(), snapshot.name(), snapshot.l1TableOffset()));
        continue;
      }
      if (Integer.toUnsignedLong(snapshot.l1Size()) > io.qcow4j.qcow2.format.HeaderCodec.MAX_L1_BYTES / 8) {
        corruption(String.format("ERROR snapshot %s (%s) l1_size=%#x: L1 table is too large; snapshot table entry"
            + " corrupted", snapshot.id(), snapshot.name(), snapshot.l1Size()));
        continue;
      }
      count(snapshot.l1TableOffset(), (long) snapshot.l1Size() * 8);
      ByteBuffer bytes = ByteBuffer.allocate(snapshot.l1Size() * 8);
      storage.readOrZero(bytes, snapshot.l1TableOffset());
      long[] table = new long[snapshot.l1Size()];
      bytes.flip().asLongBuffer().get(table);
      walkL1(table, false);
    }
    countSnapshotTable();
    count(refcounts.tableOffset(), (long) refcounts.tableClusters() * clusterSize);
    refcountTable = readRefcountTable();
    // as qemu-img: the bitmaps are counted before the refcount blocks' own references are judged
    countBitmaps();
    checkRefcountTable(refcountTable);
    // the LUKS header's clusters, which the crypto header extension names (QEMU's check_refcounts)
    CryptoHeader crypto = CryptoHeader.of(header);
    if (crypto != null && crypto.length() > 0) {
      count(crypto.offset(), crypto.length());
    }
  }

  private void count(long offset, long length) {
    if (length <= 0) {
      return;
    }
    // As qemu-img: the last cluster may be half in the file, anything further is a corruption and not counted.
    // A region whose end does not fit in 63 bits is past the end too (the sum would wrap).
    if (offset < 0 || length > Long.MAX_VALUE - offset || offset + length - fileLength >= clusterSize) {
      corruption(String.format("ERROR: counting reference for region exceeding the end of the file by one cluster "
          + "or more: offset 0x%x size 0x%x", offset, length));
      return;
    }
    for (long cluster = offset >>> clusterBits; cluster <= (offset + length - 1) >>> clusterBits; cluster++) {
      if (references.get(cluster) == maxRefcount) {
        // As qemu-img: the count stops at what the refcount width holds; no repair can store more.
        corruption(String.format("ERROR: overflow cluster offset=0x%x", cluster << clusterBits));
        messages.add("Use qemu-img amend to increase the refcount entry width or qemu-img convert to create a clean"
            + " copy if the image cannot be opened for writing");
        continue;
      }
      references.increment(cluster);
    }
  }

  private void walkL1(long[] l1, boolean active) throws IOException {
    for (int l1Index = 0; l1Index < l1.length; l1Index++) {
      if ((l1[l1Index] & L1Entry.RESERVED_MASK) != 0) {
        corruption(String.format("ERROR found L1 entry with reserved bits set: %x", l1[l1Index]));
      }
      long l2Offset = L1Entry.l2Offset(l1[l1Index]);
      if (l2Offset == 0) {
        continue;
      }
      // As qemu-img: an unaligned table is reported, then counted and walked where it points.
      count(l2Offset, clusterSize);
      if ((l2Offset & (clusterSize - 1)) != 0) {
        corruption(String.format("ERROR l2_offset=%x: Table is not cluster aligned; L1 entry corrupted", l2Offset));
      }
      walkL2(l2Offset, active);
    }
  }

  private void walkL2(long l2Offset, boolean active) throws IOException {
    // qemu-img counts fragmentation within each L2 table: the first cluster of a table never counts
    nextContiguous = 0;
    ByteBuffer bytes = ByteBuffer.allocate(clusterSize);
    storage.readOrZero(bytes, l2Offset);
    bytes.flip();
    int entryBytes = extendedL2 ? 16 : 8;
    for (int index = 0; index < clusterSize / entryBytes; index++) {
      long entry = bytes.getLong(index * entryBytes);
      long bitmap = extendedL2 ? bytes.getLong(index * entryBytes + 8) : 0;
      if (!L2Entry.compressed(entry) && (entry & L2Entry.RESERVED_MASK) != 0) {
        corruption(String.format("ERROR found l2 entry with reserved bits set: %x", entry));
      }
      if (L2Entry.compressed(entry)) {
        if (L2Entry.copied(entry)) {
          // QEMU prints the entry's offset bits (cluster_offset_mask), then goes on without the flag
          long offset = entry & ((1L << CompressedDescriptor.offsetBits(clusterBits)) - 1);
          corruption(String.format("ERROR: coffset=0x%x: copied flag must never be set for compressed clusters", offset));
          entry &= ~L2Entry.COPIED;
        }
        if (hasDataFile) {
          corruption(String.format("ERROR compressed cluster %d with data file, entry=0x%x", index, entry));
          continue;
        }
        if (bitmap != 0) {
          // As qemu-img: such an entry is not counted as a reference.
          corruption(String.format("ERROR compressed cluster %d with non-zero subcluster allocation bitmap, entry=0x%x",
              index, entry));
          continue;
        }
        CompressedDescriptor descriptor = CompressedDescriptor.decode(entry, clusterBits);
        count(descriptor.hostOffset() & ~511L, (descriptor.additionalSectors() + 1L) * 512);
        if (active) {
          allocated++;
          compressed++;
          fragmented++;
        }
        continue;
      }
      if (!L2Entry.hasHostCluster(entry, hasDataFile)) {
        if ((bitmap & L2Entry.ALL_ALLOCATED) != 0) {
          corruption("ERROR: Unallocated cluster has non-zero subcluster allocation map");
        }
        continue;
      }
      long host = L2Entry.hostOffset(entry);
      if (((bitmap >>> 32) & bitmap) != 0) {
        corruption(String.format("ERROR offset=%x: Allocated cluster has corrupted subcluster allocation bitmap", host));
      }
      if ((host & (clusterSize - 1)) != 0) {
        // As qemu-img: reported, and still counted below as the clusters the entry overlaps.
        boolean holdsData = extendedL2 ? (bitmap & L2Entry.ALL_ALLOCATED) != 0 : (entry & L2Entry.ZERO) == 0;
        if (!holdsData && repair == CheckResult.Repair.ALL && (l2Offset & (clusterSize - 1)) == 0) {
          // QEMU's fix_l2_entry_by_zero: the entry becomes a zero cluster without a host cluster
          // (with subclusters: no offset, every subcluster that was allocated or zero now zero),
          // written at once; the host cluster is then no longer referenced (a leak)
          messages.add(String.format("Repairing offset=%x: Preallocated cluster is not properly aligned; L2 entry"
              + " corrupted.", host));
          ByteBuffer fixed = ByteBuffer.allocate(entryBytes).putLong(0, extendedL2 ? 0 : L2Entry.ZERO);
          if (extendedL2) {
            fixed.putLong(8, (bitmap | bitmap << 32) & ~L2Entry.ALL_ALLOCATED);
          }
          storage.write(fixed, l2Offset + (long) index * entryBytes);
          storage.force(false);
          image.lookup().forgetTable(l2Offset);
          corruptionsFixed++;
          continue;
        }
        corruption(String.format("ERROR offset=%x: %s cluster is not properly aligned; L2 entry corrupted.", host,
            holdsData ? "Data" : "Preallocated"));
      }
      if (active) {
        allocated++;
        if (nextContiguous != 0 && host != nextContiguous) {
          fragmented++;
        }
        nextContiguous = host + clusterSize;
      }
      if (!hasDataFile) {
        count(host, clusterSize);
      }
    }
  }

  /** The refcount table as the file holds it, reserved bits included. */
  private long[] readRefcountTable() throws IOException {
    ByteBuffer bytes = ByteBuffer.allocate(refcounts.tableClusters() * clusterSize);
    storage.readOrZero(bytes, refcounts.tableOffset());
    long[] entries = new long[bytes.capacity() / 8];
    bytes.flip().asLongBuffer().get(entries);
    return entries;
  }

  /**
   * Checks every refcount table entry as qemu-img does and counts the blocks they point at: reserved
   * bits, an unaligned block and a block outside the file are corruptions (the first two need the
   * refcounts rebuilt); a block whose computed reference count is not 1 is one too.
   */
  private void checkRefcountTable(long[] entries) {
    long fileClusters = (fileLength + clusterSize - 1) >>> clusterBits;
    for (int index = 0; index < entries.length; index++) {
      long entry = entries[index];
      long blockOffset = RefcountTableEntry.blockOffset(entry);
      boolean outside = Long.compareUnsigned(blockOffset >>> clusterBits, fileClusters) >= 0;
      boolean unaligned = (blockOffset & (clusterSize - 1)) != 0;
      // What reading the block's refcounts gives later, as in qemu-img: reserved bits are masked
      // off; an unaligned block or one at an offset no read reaches is an I/O error; a block past
      // the end of the file reads as zeros.
      if (blockOffset < 0 || (blockOffset != 0 && unaligned)) {
        unreadableBlocks.add((long) index);
      } else if (outside) {
        blocksPastEnd.add((long) index);
      }
      if (RefcountTableEntry.hasReservedBits(entry)) {
        corruption(String.format("ERROR refcount table entry %d has reserved bits set", index));
        rebuildNeeded = true;
        continue;
      }
      if (unaligned) {
        corruption(String.format("ERROR refcount block %d is not cluster aligned; refcount table entry corrupted", index));
        rebuildNeeded = true;
        continue;
      }
      if (outside) {
        corruption(String.format("ERROR refcount block %d is outside image", index));
        continue;
      }
      if (blockOffset == 0) {
        continue;
      }
      count(blockOffset, clusterSize);
      long referenced = references.get(blockOffset >>> clusterBits);
      if (referenced != 1) {
        corruption(String.format("ERROR refcount block %d refcount=%d", index, referenced));
        rebuildNeeded = true;
      }
    }
  }

  /** The snapshot table's clusters, as far as the check read it (QEMU's snapshots_size). */
  private void countSnapshotTable() {
    if (image.snapshotTable().isEmpty()) {
      return;
    }
    count(image.header().snapshotsOffset(), image.snapshotTableBytes());
  }

  private void countBitmaps() throws IOException {
    var extension = header.extension(HeaderExtension.BITMAPS);
    if (extension.isEmpty() || !header.bitmapsValid()) {
      return;
    }
    BitmapDirectoryCodec.Extension bitmaps = BitmapDirectoryCodec.Extension.decode(storage.name(),
        extension.get().data());
    if (bitmaps.directorySize() <= 0 || bitmaps.directorySize() > BitmapDirectoryCodec.MAX_DIRECTORY_BYTES) {
      return;
    }
    count(bitmaps.directoryOffset(), bitmaps.directorySize());
    ByteBuffer directory = ByteBuffer.allocate((int) bitmaps.directorySize());
    storage.readOrZero(directory, bitmaps.directoryOffset());
    List<BitmapDirectoryCodec.Entry> entries;
    try {
      entries = BitmapDirectoryCodec.decodeDirectory(storage.name(), directory.flip(), bitmaps.directoryOffset(),
          bitmaps.count());
    } catch (CorruptImageException e) {
      // As qemu-img: a directory it cannot load stops the check (qcow2_check_bitmaps_refcounts' -EINVAL)
      throw checkFailed(e.getMessage());
    }
    for (BitmapDirectoryCodec.Entry entry : entries) {
      try {
        BitmapDirectoryCodec.checkTable(storage.name(), entry, clusterSize, fileLength);
      } catch (CorruptImageException e) {
        throw checkFailed(e.getMessage());
      }
      long tableBytes = Integer.toUnsignedLong(entry.tableSize()) * 8;
      count(entry.tableOffset(), tableBytes);
      ByteBuffer table = ByteBuffer.allocate((int) tableBytes);
      storage.readOrZero(table, entry.tableOffset());
      table.flip();
      for (int index = 0; table.hasRemaining(); index++) {
        long tableEntry = table.getLong();
        if (!BitmapDirectoryCodec.validTableEntry(tableEntry, clusterSize)) {
          // qemu-img's check stops at a table it cannot load, in use or not; ours names the entry
          throw checkFailed(String.format("%s: bitmap '%s' table entry %d (at offset %d) is invalid: 0x%x",
              storage.name(), entry.name(), index, entry.tableOffset() + 8L * index, tableEntry));
        }
        long dataOffset = tableEntry & BitmapDirectoryCodec.TABLE_OFFSET_MASK;
        if (dataOffset != 0) {
          count(dataOffset, clusterSize);
        }
      }
    }
  }

  /**
   * Like qemu-img, a repair first compares without fixing anything (its lines say "Leaked" and
   * "ERROR") and then, when that found a mismatch, compares again fixing what it may ("Repairing").
   */
  private void compareRefcounts() throws IOException {
    if (repair == CheckResult.Repair.NONE) {
      compareAll(false);
      return;
    }
    long corruptionsBefore = corruptions;
    long leaksBefore = leaks;
    compareAll(false);
    if (rebuildNeeded && repair == CheckResult.Repair.ALL) {
      rebuildStructure();
      return;
    }
    if (corruptions != corruptionsBefore || leaks != leaksBefore) {
      corruptions = corruptionsBefore;
      leaks = leaksBefore;
      compareAll(true);
    }
  }

  /**
   * QEMU's rebuild in check -r all: new refcount structures from the counted references, then
   * the references counted again and the leaks that leaves (the old structures) repaired; what was
   * found before counts as fixed.
   */
  private void rebuildStructure() throws IOException {
    messages.add("Rebuilding refcount structure");
    long oldCorruptions = corruptions;
    long oldLeaks = leaks;
    Refcounts rebuilt = new RefcountStructureRebuild(image, references).run();
    image.writer().replaceRefcounts(rebuilt);
    refcounts = rebuilt;
    badBlocks.clear();
    maskedBlocks.clear();
    blocksPastEnd.clear();
    unreadableBlocks.clear();
    ImageCheck recount = new ImageCheck(image, rebuilt, CheckResult.Repair.LEAKS);
    recount.countReferences();
    // what counting again still finds (an unaligned data cluster) stays a corruption, as in QEMU
    long remaining = recount.corruptions;
    recount.compareAll(true);
    messages.addAll(recount.messages);
    refcountTable = recount.refcountTable;
    rebuildNeeded = false;
    corruptions = remaining;
    leaks = recount.leaks;
    corruptionsFixed += Math.max(0, oldCorruptions - remaining);
    leaksFixed += oldLeaks;
    highestUsed = Math.max(highestUsed, recount.highestUsed);
  }

  private void compareAll(boolean fixing) throws IOException {
    long clusters = references.clusters();
    for (long cluster = 0; cluster < clusters; cluster++) {
      compare(cluster, fixing);
    }
    for (Map.Entry<Long, Long> beyond : references.beyondEnd().entrySet()) {
      compare(beyond.getKey(), fixing);
    }
  }

  private void compare(long cluster, boolean fixing) throws IOException {
    if (refcountUnreadable(cluster)) {
      reportUnalignedBlock(cluster / refcountsPerBlock);
      messages.add(String.format("Can't get refcount for cluster %d: Input/output error", cluster));
      checkErrors++;
      return;
    }
    long stored = storedRefcount(cluster);
    long counted = references.get(cluster);
    if (stored != 0 || counted != 0) {
      highestUsed = Math.max(highestUsed, cluster);
    }
    if (stored == counted) {
      return;
    }
    // Refcounts are unsigned: a 64-bit one may have its top bit set.
    boolean leaked = Long.compareUnsigned(stored, counted) > 0;
    // as QEMU's compare_refcounts: a referenced cluster whose refcount is 0 needs the structure rebuilt
    boolean fixable = fixing && stored != 0
        && (leaked ? repair != CheckResult.Repair.NONE : repair == CheckResult.Repair.ALL);
    if (fixable && !maskedBlocks.containsKey(cluster / refcountsPerBlock)) {
      refcounts.setRefcount(cluster, counted);
      messages.add(String.format("Repairing cluster %d refcount=%s reference=%d", cluster, Long.toUnsignedString(stored),
          counted));
      if (leaked) {
        leaksFixed++;
      } else {
        corruptionsFixed++;
      }
      return;
    }
    if (stored == 0) {
      rebuildNeeded = true;
    }
    if (!leaked) {
      messages.add(String.format("ERROR cluster %d refcount=%s reference=%d", cluster, Long.toUnsignedString(stored),
          counted));
      corruptions++;
    } else {
      messages.add(String.format("Leaked cluster %d refcount=%s reference=%d", cluster, Long.toUnsignedString(stored),
          counted));
      leaks++;
    }
  }

  /** The refcount block of a table entry with reserved bits, at the entry's offset with those bits masked off. */
  private byte[] maskedBlock(long blockIndex) throws IOException {
    byte[] block = maskedBlocks.get(blockIndex);
    if (block == null) {
      ByteBuffer bytes = ByteBuffer.allocate(clusterSize);
      storage.readOrZero(bytes, RefcountTableEntry.blockOffset(refcountTable[(int) blockIndex]));
      block = bytes.array();
      maskedBlocks.put(blockIndex, block);
    }
    return block;
  }

  /** Whether the refcount of {@code cluster} lies in a block that no read can reach (qemu-img: an I/O error). */
  /**
   * The first read of an unaligned refcount block by a check that repairs nothing: QEMU's
   * get_refcount signals the corruption (the line goes before the first "Can't get refcount"). A
   * read-only image reports it once as non-fatal; the writable one of -r leaks is marked corrupt
   * (its check then fails, the refcounts needing a rebuild). -r all rebuilds the refcounts instead.
   */
  private void reportUnalignedBlock(long blockIndex) {
    if (unalignedBlockReported || repair != CheckResult.Repair.NONE || blockIndex >= refcountTable.length) {
      return;
    }
    long blockOffset = RefcountTableEntry.blockOffset(refcountTable[(int) blockIndex]);
    if (blockOffset <= 0 || (blockOffset & (clusterSize - 1)) == 0) {
      return;
    }
    unalignedBlockReported = true;
    String event = String.format("Refblock offset %#x unaligned (reftable index: %s)", blockOffset,
        blockIndex == 0 ? "0" : String.format("%#x", blockIndex));
    if (image.isReadOnly()) {
      messages.add("qcow2: Image is corrupt: " + event + "; further non-fatal corruption events will be suppressed");
    } else {
      messages.add("qcow2: Marking image as corrupt: " + event + "; further corruption events will be suppressed");
      image.signalCorruption(new CorruptImageException(image.storage().name() + ": " + event));
    }
  }

  private boolean refcountUnreadable(long cluster) {
    return unreadableBlocks.contains(cluster / refcountsPerBlock);
  }

  private long storedRefcount(long cluster) throws IOException {
    long blockIndex = cluster / refcountsPerBlock;
    if (badBlocks.contains(blockIndex) || blocksPastEnd.contains(blockIndex)) {
      return 0;
    }
    if (blockIndex < refcountTable.length && RefcountTableEntry.hasReservedBits(refcountTable[(int) blockIndex])) {
      return RefcountBlock.get(maskedBlock(blockIndex), (int) (cluster % refcountsPerBlock), header.refcountOrder());
    }
    try {
      return refcounts.get(cluster);
    } catch (CorruptImageException e) {
      badBlocks.add(blockIndex);
      if (repair == CheckResult.Repair.ALL) {
        refcounts.dropBlockOf(cluster);
        messages.add("Repairing refcount block " + blockIndex + ": " + e.getMessage());
        corruptionsFixed++;
        badBlocks.remove(blockIndex);
      } else {
        corruption("ERROR " + e.getMessage());
      }
      return 0;
    }
  }

  private void checkCopiedFlags(long[] l1) throws IOException {
    // qemu-img: -r all repairs the flags; -r leaks too when the refcounts are right by now, so that they can be trusted
    repairCopied = repair == CheckResult.Repair.ALL
        || (repair == CheckResult.Repair.LEAKS && checkErrors == 0 && corruptions == 0 && leaks == 0);
    for (int l1Index = 0; l1Index < l1.length; l1Index++) {
      long l1Entry = l1[l1Index];
      long l2Offset = L1Entry.l2Offset(l1Entry);
      if (l2Offset == 0) {
        continue;
      }
      if (refcountUnreadable(l2Offset >>> clusterBits)) {
        // As qemu-img: the compare already reported it.
        continue;
      }
      long refcount = storedRefcount(l2Offset >>> clusterBits);
      if ((refcount == 1) != L1Entry.copied(l1Entry)) {
        if (repairCopied) {
          long fixed = refcount == 1 ? l1Entry | L1Entry.COPIED : l1Entry & ~L1Entry.COPIED;
          l1[l1Index] = fixed;
          storage.write(ByteBuffer.allocate(8).putLong(0, fixed), header.l1TableOffset() + 8L * l1Index);
          messages.add(String.format("Repairing OFLAG_COPIED L2 cluster: l1_index=%d l1_entry=%x refcount=%s",
              l1Index, l1Entry, Long.toUnsignedString(refcount)));
          corruptionsFixed++;
        } else {
          corruption(String.format("ERROR OFLAG_COPIED L2 cluster: l1_index=%d l1_entry=%x refcount=%s",
              l1Index, l1Entry, Long.toUnsignedString(refcount)));
        }
      }
      if (hasDataFile) {
        continue;
      }
      checkCopiedInL2(l2Offset);
    }
  }

  private void checkCopiedInL2(long l2Offset) throws IOException {
    ByteBuffer bytes = ByteBuffer.allocate(clusterSize);
    storage.readOrZero(bytes, l2Offset);
    int entryBytes = extendedL2 ? 16 : 8;
    boolean changed = false;
    for (int index = 0; index < clusterSize / entryBytes; index++) {
      long entry = bytes.getLong(index * entryBytes);
      if (L2Entry.compressed(entry) || !L2Entry.hasHostCluster(entry, false)) {
        continue;
      }
      if (refcountUnreadable(L2Entry.hostOffset(entry) >>> clusterBits)) {
        continue;
      }
      long refcount = storedRefcount(L2Entry.hostOffset(entry) >>> clusterBits);
      if ((refcount == 1) == L2Entry.copied(entry)) {
        continue;
      }
      // An unaligned table is checked as qemu-img checks it, but never rewritten: it overlaps two clusters.
      if (repairCopied && (l2Offset & (clusterSize - 1)) == 0) {
        long fixed = refcount == 1 ? entry | L2Entry.COPIED : entry & ~L2Entry.COPIED;
        bytes.putLong(index * entryBytes, fixed);
        changed = true;
        messages.add(String.format("Repairing OFLAG_COPIED data cluster: l2_entry=%x refcount=%s", entry,
            Long.toUnsignedString(refcount)));
        corruptionsFixed++;
      } else {
        corruption(String.format("ERROR OFLAG_COPIED data cluster: l2_entry=%x refcount=%s", entry,
            Long.toUnsignedString(refcount)));
      }
    }
    if (changed) {
      storage.write(bytes.clear(), l2Offset);
      image.lookup().forgetTable(l2Offset);
    }
  }

  /** The check stopped as qemu-img's does on an invalid argument: "Check failed: Invalid argument". */
  private CheckFailedException checkFailed(String message) {
    messages.add("ERROR " + message);
    return new CheckFailedException(message, "Invalid argument", messages);
  }

  private void corruption(String message) {
    messages.add(message);
    corruptions++;
  }
}
