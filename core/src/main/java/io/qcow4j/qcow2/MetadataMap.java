package io.qcow4j.qcow2;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.qcow2.OverlapGuard.Structure;
import io.qcow4j.qcow2.format.BitmapDirectoryCodec;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.HeaderExtension;
import io.qcow4j.qcow2.format.L1Entry;
import io.qcow4j.qcow2.format.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Optional;

/**
 * Finds where an image's metadata lies (header, tables, blocks, snapshot and bitmap structures) and
 * records it in an {@link OverlapGuard}. Only entries that the format allows are recorded: a damaged
 * pointer is reported where it is used, not here.
 */
final class MetadataMap {
  private MetadataMap() {}

  static void populate(OverlapGuard guard, QcowFile image, long[] refcountTable) throws IOException {
    Header header = image.header();
    int clusterSize = header.clusterSize();
    guard.add(Structure.HEADER, 0, clusterSize);
    guard.add(Structure.ACTIVE_L1, header.l1TableOffset(), header.l1Size() * 8L);
    for (long entry : image.lookup().l1()) {
      long l2Offset = L1Entry.l2Offset(entry);
      if (l2Offset != 0 && (l2Offset & (clusterSize - 1)) == 0) {
        guard.addOwned(Structure.ACTIVE_L2, Structure.SHARED_L2, l2Offset, clusterSize);
      }
    }
    guard.add(Structure.REFCOUNT_TABLE, header.refcountTableOffset(), (long) header.refcountTableClusters() * clusterSize);
    for (long entry : refcountTable) {
      if (entry > 0 && (entry & (clusterSize - 1)) == 0) {
        guard.addOwned(Structure.REFCOUNT_BLOCK, Structure.SHARED_REFCOUNT_BLOCK, entry, clusterSize);
      }
    }
    if (header.snapshotCount() > 0) {
      guard.add(Structure.SNAPSHOT_TABLE, header.snapshotsOffset(), image.snapshotTableBytes());
    }
    for (Snapshot snapshot : image.snapshotTable()) {
      if (snapshot == image.loadedSnapshot()) {
        continue; // its L1 table is the active one, recorded above
      }
      if (io.qcow4j.qcow2.format.SnapshotTableCodec.l1Problem(snapshot, clusterSize) != null) {
        continue; // refused where it is used
      }
      guard.add(Structure.INACTIVE_L1, snapshot.l1TableOffset(), snapshot.l1Size() * 8L);
    }
    if (guard.checksInactiveL2()) {
      addInactiveL2(guard, image, header);
    }
    addBitmaps(guard, image, header);
    image.lookup().placeL1(header.l1TableOffset());
  }

  /**
   * The L2 tables the snapshots' L1 tables point at, for the inactive L2 check (off by default):
   * QEMU reads each snapshot's L1 table for every write it checks, validated first, and fails the
   * write when one is not valid; the tables are read here, once, and a table QEMU would refuse
   * makes every checked write fail the same way.
   */
  private static void addInactiveL2(OverlapGuard guard, QcowFile image, Header header) throws IOException {
    String name = image.storage().name();
    IOException uncheckable = null;
    for (Snapshot snapshot : image.snapshotTable()) {
      long entries = Integer.toUnsignedLong(snapshot.l1Size());
      long offset = snapshot.l1TableOffset();
      // qcow2_validate_table with QCOW_MAX_L1_SIZE, as qcow2_check_metadata_overlap calls it
      if (entries > io.qcow4j.qcow2.format.HeaderCodec.MAX_L1_BYTES / 8) {
        uncheckable = new io.qcow4j.disk.ImageLimitException(name + ": snapshot '" + snapshot.name()
            + "' L1 table too large for the inactive L2 overlap check");
        break;
      }
      if (offset < 0 || Long.MAX_VALUE - entries * 8 < offset || (offset & (header.clusterSize() - 1)) != 0) {
        uncheckable = new CorruptImageException(name + ": snapshot '" + snapshot.name()
            + "' L1 table offset invalid for the inactive L2 overlap check");
        break;
      }
      ByteBuffer l1 = ByteBuffer.allocate((int) (entries * 8));
      image.storage().readOrZero(l1, offset);
      for (int index = 0; index < entries; index++) {
        long l2Offset = L1Entry.l2Offset(l1.getLong(index * 8));
        if (l2Offset != 0) {
          guard.add(Structure.INACTIVE_L2, l2Offset, header.clusterSize());
        }
      }
    }
    guard.uncheckable(uncheckable);
  }

  private static void addBitmaps(OverlapGuard guard, QcowFile image, Header header) throws IOException {
    Optional<HeaderExtension> extension = header.extension(HeaderExtension.BITMAPS);
    if (extension.isEmpty()) {
      return;
    }
    String name = image.storage().name();
    try {
      BitmapDirectoryCodec.Extension bitmaps = BitmapDirectoryCodec.Extension.decode(name, extension.get().data());
      long offset = bitmaps.directoryOffset();
      long size = bitmaps.directorySize();
      if (size <= 0 || size > BitmapDirectoryCodec.MAX_DIRECTORY_BYTES || offset <= 0
          || offset + size > image.storage().size()) {
        return;
      }
      guard.add(Structure.BITMAP_DIRECTORY, offset, size);
      ByteBuffer directory = ByteBuffer.allocate((int) size);
      image.storage().readFully(directory, offset);
      for (BitmapDirectoryCodec.Entry entry : BitmapDirectoryCodec.decode(name, directory.flip(), offset, bitmaps.count())) {
        if (entry.tableOffset() > 0) {
          guard.add(Structure.BITMAP_TABLE, entry.tableOffset(), entry.tableSize() * 8L);
        }
      }
    } catch (CorruptImageException e) {
      // Reported by info and check; the other structures are still guarded.
    }
  }
}
