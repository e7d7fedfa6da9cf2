package io.qcow4j.qcow2;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.qcow2.format.CompressedDescriptor;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.HeaderCodec;
import io.qcow4j.qcow2.format.L1Entry;
import io.qcow4j.qcow2.format.L2Entry;
import io.qcow4j.qcow2.format.Snapshot;
import io.qcow4j.qcow2.format.SnapshotTableCodec;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.List;

/**
 * Internal snapshots: lookup by id or name, create (every cluster of the active tree gains a
 * reference and loses its COPIED flag), apply (the snapshot's tree becomes the active one) and
 * delete (its references go). Each change runs with the image's I/O drained and its metadata lock
 * held; the snapshot table is always written to fresh clusters and switched with one header write.
 */
final class Snapshots {
  private final QcowFile image;
  private final Storage storage;
  private final Refcounts refcounts;
  private final ClusterLookup lookup;
  private final int clusterBits;
  private final int clusterSize;
  private final boolean extendedL2;
  private final boolean hasDataFile;
  /** {@link #walkTree}'s delta that takes back the first {@link #referencesToTakeBack} references added. */
  private static final int TAKE_BACK = Integer.MIN_VALUE;
  private long addedReferences;
  private long referencesToTakeBack;

  Snapshots(QcowFile image, Refcounts refcounts) {
    this.image = image;
    this.storage = image.storage();
    this.refcounts = refcounts;
    this.lookup = image.lookup();
    Header header = image.header();
    this.clusterBits = header.clusterBits();
    this.clusterSize = header.clusterSize();
    this.extendedL2 = header.extendedL2();
    this.hasDataFile = header.hasDataFile();
  }

  /**
   * Creates a snapshot of the active state named {@code name}; returns it. Names need not be unique
   * (qemu-img snapshot -c takes a name that is already there); the new id is.
   */
  Snapshot create(String name, List<Snapshot> existing, long nowMillis) throws IOException {
    if (existing.size() >= HeaderCodec.MAX_SNAPSHOTS) {
      throw new ImageLimitException(storage.name() + ": the image already has " + existing.size() + " snapshots");
    }
    refuseWithDataFile("create");
    Header header = image.header();
    long[] l1 = lookup.l1();
    // As QEMU's qcow2_snapshot_create: the copy of the L1 table is allocated and written first, then
    // the tree gets its references; when one fails (a refcount at the limit of its width) the copy
    // stays allocated, a leak as QEMU leaves it (iotest 112), never an under-count.
    long copyOffset = l1.length == 0 ? 0 : refcounts.allocate(clustersFor(l1.length * 8L));
    ByteBuffer copy = encodeL1(l1);
    if (l1.length > 0) {
      storage.write(copy, copyOffset);
    }
    addReferences(l1);
    image.writer().flush();
    setCopiedFlags(l1, header.l1TableOffset());

    long id = 1;
    for (Snapshot snapshot : existing) {
      try {
        id = Math.max(id, Long.parseLong(snapshot.id()) + 1);
      } catch (NumberFormatException e) {
        // Ids that are not numbers do not take part in numbering.
      }
    }
    Snapshot created = new Snapshot(copyOffset, l1.length, Long.toString(id), name, nowMillis / 1000,
        (nowMillis % 1000) * 1_000_000, 0, 0, header.size(), 0, new byte[0]);
    List<Snapshot> table = new ArrayList<>(existing);
    table.add(created);
    writeTable(table);
    return created;
  }

  /** Makes the snapshot's state the active one; the virtual size becomes the snapshot's. */
  void apply(Snapshot snapshot) throws IOException {
    refuseWithDataFile("apply");
    Header header = image.header();
    // qcow2_snapshot_goto checks the snapshot's L1 table only now
    SnapshotTableCodec.validateL1(storage.name(), snapshot, header.clusterSize());
    long[] snapshotL1 = readL1(snapshot.l1TableOffset(), snapshot.l1Size());
    addReferences(snapshotL1);
    long[] oldL1 = lookup.l1().clone();
    long l1Offset = header.l1TableOffset();
    int l1Entries = header.l1Size();
    if (snapshotL1.length > l1Entries) {
      l1Offset = refcounts.allocate(clustersFor(snapshotL1.length * 8L));
      l1Entries = snapshotL1.length;
    }
    long[] active = java.util.Arrays.copyOf(snapshotL1, l1Entries);
    image.writer().flush();
    storage.write(encodeL1(active), l1Offset);
    storage.force(false);
    long size = snapshot.diskSize() >= 0 ? snapshot.diskSize() : header.size();
    image.writeHeader(header.withSizeAndL1(size, l1Offset, l1Entries));
    storage.force(false);
    lookup.replaceL1(active);
    lookup.clearCache();
    if (l1Offset != header.l1TableOffset()) {
      refcounts.freeLater(header.l1TableOffset(), header.l1Size() * 8L);
    }
    walkTree(oldL1, -1);
    image.writer().flush();
    setCopiedFlags(active, l1Offset);
  }

  /** Removes the snapshot and drops the references its tree held. */
  void delete(Snapshot snapshot, List<Snapshot> existing) throws IOException {
    // qcow2_snapshot_delete checks the snapshot's L1 table before it changes anything
    SnapshotTableCodec.validateL1(storage.name(), snapshot, image.header().clusterSize());
    List<Snapshot> table = new ArrayList<>(existing);
    table.remove(snapshot);
    writeTable(table);
    // The snapshot is gone from the table: a failure from here on leaks its clusters (as QEMU's)
    try {
      long[] snapshotL1 = readL1(snapshot.l1TableOffset(), snapshot.l1Size());
      walkTree(snapshotL1, -1);
      if (snapshot.l1Size() > 0) {
        refcounts.freeLater(snapshot.l1TableOffset(), snapshot.l1Size() * 8L);
      }
    } catch (CorruptImageException e) {
      throw e;
    } catch (IOException e) {
      throw new IOException("Failed to free the cluster and L1 table: " + reason(e), e);
    }
    image.writer().flush();
    setCopiedFlags(lookup.l1(), image.header().l1TableOffset());
  }

  /** The snapshot whose id is {@code nameOrId}, else the first whose name is. */
  static Snapshot find(String imageName, List<Snapshot> snapshots, String nameOrId) throws NoSuchFileException {
    for (Snapshot snapshot : snapshots) {
      if (snapshot.id().equals(nameOrId)) {
        return snapshot;
      }
    }
    for (Snapshot snapshot : snapshots) {
      if (snapshot.name().equals(nameOrId)) {
        return snapshot;
      }
    }
    throw new NoSuchFileException(imageName, null, "snapshot '" + nameOrId + "' not found");
  }

  /** Refuses a snapshot operation on an image with an external data file, as QEMU does (ENOTSUP). */
  private void refuseWithDataFile(String operation) throws UnsupportedFeatureException {
    if (hasDataFile) {
      throw new UnsupportedFeatureException(storage.name() + ": cannot " + operation
          + " a snapshot: internal snapshots are not supported with an external data file");
    }
  }

  /**
   * Adds a reference to every cluster of the tree; when one fails (a refcount at the limit of its
   * width), the references added so far are taken back, so a refused operation leaves no leak.
   */
  private void addReferences(long[] l1) throws IOException {
    addedReferences = 0;
    try {
      walkTree(l1, +1);
    } catch (IOException | RuntimeException e) {
      referencesToTakeBack = addedReferences;
      try {
        walkTree(l1, TAKE_BACK);
      } catch (IOException | RuntimeException rollbackFailure) {
        e.addSuppressed(rollbackFailure);
      } finally {
        referencesToTakeBack = 0;
      }
      throw e;
    }
  }

  /** Adds {@code delta} (+1 now, -1 once durable) to every L2 table and data cluster of the tree. */
  private void walkTree(long[] l1, int delta) throws IOException {
    ByteBuffer table = ByteBuffer.allocate(clusterSize);
    int entryBytes = extendedL2 ? 16 : 8;
    for (long l1Entry : l1) {
      long l2Offset = L1Entry.l2Offset(l1Entry);
      if (l2Offset == 0) {
        continue;
      }
      if ((l2Offset & (clusterSize - 1)) != 0) {
        throw new CorruptImageException(String.format("%s: L2 table offset 0x%x is not aligned to a cluster",
            storage.name(), l2Offset));
      }
      reference(l2Offset, clusterSize, delta);
      readTable(table, l2Offset);
      for (int index = 0; index < clusterSize / entryBytes; index++) {
        long entry = table.getLong(index * entryBytes);
        if (L2Entry.compressed(entry)) {
          CompressedDescriptor descriptor = CompressedDescriptor.decode(entry, clusterBits);
          reference(descriptor.hostOffset() & ~511L, (descriptor.additionalSectors() + 1L) * 512, delta);
        } else if (!hasDataFile && L2Entry.hasHostCluster(entry, false)) {
          reference(L2Entry.hostOffset(entry), clusterSize, delta);
        }
      }
    }
  }

  private void reference(long offset, long length, int delta) throws IOException {
    if (delta == TAKE_BACK) {
      // The references this walk added, cluster by cluster in the same order, and no more.
      for (long cluster = offset & -clusterSize; cluster < offset + length && referencesToTakeBack > 0; cluster += clusterSize) {
        refcounts.decrement(cluster, 1);
        referencesToTakeBack--;
      }
    } else if (delta > 0) {
      for (long cluster = offset & -clusterSize; cluster < offset + length; cluster += clusterSize) {
        if (refcounts.ensureBlock(cluster >>> clusterBits)) {
          // QEMU's update_refcount: a cluster without a refcount block gets one, then the update
          // fails with EAGAIN (its callers that allocate retry; a snapshot's do not)
          throw new CorruptImageException(String.format("%s: cluster at host offset 0x%x has no refcount block; one"
              + " was made, the reference was not added (Resource temporarily unavailable)", storage.name(), cluster));
        }
        refcounts.increment(cluster, 1);
        addedReferences++;
      }
    } else {
      refcounts.freeLater(offset, length);
    }
  }

  /** Sets each COPIED flag of the active tree to whether its cluster's refcount is exactly 1. */
  private void setCopiedFlags(long[] l1, long l1Offset) throws IOException {
    ByteBuffer table = ByteBuffer.allocate(clusterSize);
    int entryBytes = extendedL2 ? 16 : 8;
    boolean l1Changed = false;
    for (int l1Index = 0; l1Index < l1.length; l1Index++) {
      long l2Offset = L1Entry.l2Offset(l1[l1Index]);
      if (l2Offset == 0) {
        continue;
      }
      boolean tableOwned = refcounts.get(l2Offset >>> clusterBits) == 1;
      if (tableOwned != L1Entry.copied(l1[l1Index])) {
        l1[l1Index] = L1Entry.of(l2Offset, tableOwned);
        l1Changed = true;
      }
      readTable(table, l2Offset);
      boolean changed = false;
      for (int index = 0; index < clusterSize / entryBytes; index++) {
        long entry = table.getLong(index * entryBytes);
        if (L2Entry.compressed(entry) || !L2Entry.hasHostCluster(entry, hasDataFile) || hasDataFile) {
          continue;
        }
        boolean owned = refcounts.get(L2Entry.hostOffset(entry) >>> clusterBits) == 1;
        if (owned != L2Entry.copied(entry)) {
          table.putLong(index * entryBytes, owned ? entry | L2Entry.COPIED : entry & ~L2Entry.COPIED);
          changed = true;
        }
      }
      if (changed) {
        storage.write(table.clear(), l2Offset);
        lookup.forgetTable(l2Offset);
      }
    }
    if (l1Changed) {
      storage.write(encodeL1(l1), l1Offset);
    }
    storage.force(false);
  }

  /** Writes the table again as it is (each entry with the extra data a version 3 image needs). */
  void rewriteTable() throws IOException {
    writeTable(image.snapshotTable());
    image.writer().flush();
  }

  /** Whether an entry lacks the disk size in its extra data (a version 2 writer's entry). */
  static boolean anyIncomplete(List<Snapshot> table) {
    return table.stream().anyMatch(snapshot -> snapshot.diskSize() == -1);
  }

  private void writeTable(List<Snapshot> given) throws IOException {
    Header header = image.header();
    // As QEMU, which reads an absent disk size as the current one and always writes the three fields.
    List<Snapshot> table = given.stream().map(snapshot -> snapshot.diskSize() != -1 ? snapshot
        : new Snapshot(snapshot.l1TableOffset(), snapshot.l1Size(), snapshot.id(), snapshot.name(),
            snapshot.dateSeconds(), snapshot.dateNanoseconds(), snapshot.vmClockNanoseconds(),
            snapshot.vmStateSize(), header.size(), snapshot.icount(), snapshot.unknownExtraData())).toList();
    byte[] encoded = SnapshotTableCodec.encode(table);
    long offset = encoded.length == 0 ? 0 : refcounts.allocate(clustersFor(encoded.length));
    if (encoded.length > 0) {
      storage.write(ByteBuffer.wrap(encoded), offset);
    }
    image.writer().flush();
    storage.force(false);
    long oldLength = image.snapshotTableBytes();
    image.writeSnapshotTable(offset, table, encoded.length);
    storage.force(false);
    if (header.snapshotCount() > 0 && oldLength > 0) {
      try {
        refcounts.freeLaterLoaded(header.snapshotsOffset(), oldLength);
      } catch (CorruptImageException e) {
        throw e;
      } catch (IOException e) {
        // QEMU reports it and goes on: the old table leaks
        image.diagnostic("qcow2_free_clusters failed: " + reason(e));
      }
    }
  }

  /** strerror's text for a host I/O failure, the message otherwise. */
  private static String reason(IOException failure) {
    if (failure instanceof java.nio.file.FileSystemException fileFailure && fileFailure.getReason() != null) {
      return fileFailure.getReason();
    }
    return failure.getMessage() != null ? failure.getMessage() : failure.getClass().getSimpleName();
  }

  private long[] readL1(long offset, int entries) throws IOException {
    ByteBuffer bytes = ByteBuffer.allocate(entries * 8);
    storage.readFully(bytes, offset);
    long[] l1 = new long[entries];
    bytes.flip().asLongBuffer().get(l1);
    return l1;
  }

  private void readTable(ByteBuffer table, long l2Offset) throws IOException {
    table.clear();
    storage.readFully(table, l2Offset);
    table.flip();
  }

  private static ByteBuffer encodeL1(long[] l1) {
    ByteBuffer bytes = ByteBuffer.allocate(l1.length * 8);
    bytes.asLongBuffer().put(l1);
    return bytes;
  }

  private int clustersFor(long bytes) {
    return (int) ((bytes + clusterSize - 1) >>> clusterBits);
  }
}
