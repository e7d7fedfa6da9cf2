package io.qcow4j.qcow2;

import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.HeaderCodec;
import io.qcow4j.qcow2.format.RefcountBlock;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.BitSet;

/**
 * Rewrites the refcount structures with another refcount width: a new table and blocks after the
 * end of the image carry every refcount (and their own), the header switches to them in one write,
 * then the old table and blocks are freed.
 */
final class RefcountRebuild {
  private final QcowFile image;
  private final int newOrder;

  RefcountRebuild(QcowFile image, int newOrder) {
    this.image = image;
    this.newOrder = newOrder;
  }

  void run(AmendReports reports) throws IOException {
    WritePath writer = image.writer();
    writer.flush();
    Refcounts old = writer.refcounts();
    Header header = image.header();
    Storage storage = image.storage();
    int clusterBits = header.clusterBits();
    int clusterSize = header.clusterSize();
    long perBlock = RefcountBlock.entries(clusterSize, newOrder);
    long maxValue = RefcountBlock.maxValue(newOrder);
    long used = old.frontierOffset() >>> clusterBits;
    BitSet inUse = new BitSet();

    // Every refcount must fit the new width before anything is written (refcounts are unsigned).
    for (long cluster = 0; cluster < used; cluster++) {
      long value = old.get(cluster);
      if (value != 0 && cluster < Integer.MAX_VALUE) {
        inUse.set((int) cluster);
      }
      if (Long.compareUnsigned(value, maxValue) > 0) {
        // qemu-img's words (qcow2_change_refcount_order)
        throw new ImageLimitException(String.format(
            "Cannot decrease refcount entry width to %d bits: Cluster at offset 0x%x has a refcount of %s",
            1 << newOrder, cluster << clusterBits, Long.toUnsignedString(value)));
      }
    }

    reportWalks(reports, header, inUse, perBlock);

    // The new table and blocks go at the end and must count themselves: grow until it settles.
    long blocks = 0;
    long tableClusters = 0;
    long covered;
    do {
      covered = used + blocks + tableClusters;
      blocks = (covered + perBlock - 1) / perBlock;
      tableClusters = (blocks * 8 + clusterSize - 1) / clusterSize;
    } while (used + blocks + tableClusters > covered);
    if (tableClusters * clusterSize > HeaderCodec.MAX_REFCOUNT_TABLE_BYTES) {
      throw new ImageLimitException(storage.name() + ": a refcount table for " + (1 << newOrder)
          + "-bit refcounts would exceed " + HeaderCodec.MAX_REFCOUNT_TABLE_BYTES + " bytes");
    }
    long tableCluster = used;
    long firstBlockCluster = used + tableClusters;
    ByteBuffer table = ByteBuffer.allocate((int) (tableClusters * clusterSize));
    byte[] block = new byte[clusterSize];
    for (long blockIndex = 0; blockIndex < blocks; blockIndex++) {
      java.util.Arrays.fill(block, (byte) 0);
      for (long index = 0; index < perBlock; index++) {
        long cluster = blockIndex * perBlock + index;
        if (cluster >= covered) {
          break;
        }
        long value = cluster < used ? old.get(cluster) : 1;
        RefcountBlock.set(block, (int) index, newOrder, value);
      }
      long blockOffset = (firstBlockCluster + blockIndex) << clusterBits;
      storage.write(ByteBuffer.wrap(block), blockOffset);
      table.putLong((int) (blockIndex * 8), blockOffset);
    }
    storage.write(table, tableCluster << clusterBits);
    storage.force(false);
    long oldTableOffset = header.refcountTableOffset();
    long oldTableBytes = (long) header.refcountTableClusters() * clusterSize;
    java.util.List<Long> oldBlocks = old.blockOffsets();
    image.writeHeader(header.withRefcounts(newOrder, tableCluster << clusterBits, (int) tableClusters));
    storage.force(false);
    Refcounts rebuilt = new Refcounts(storage.name(), storage, clusterBits, newOrder, tableCluster << clusterBits,
        (int) tableClusters);
    writer.replaceRefcounts(rebuilt);
    rebuilt.freeLater(oldTableOffset, oldTableBytes);
    for (long blockOffset : oldBlocks) {
      rebuilt.freeLater(blockOffset, clusterSize);
    }
    writer.flush();
  }

  /**
   * The reports of qcow2_change_refcount_order's walks over the old refcount table: one per
   * table entry and one at the end of each walk, each walk's total the walks known by then (at
   * least three: two allocation walks and the writing one).
   */
  private static void reportWalks(AmendReports reports, Header header, BitSet inUse, long newBlockEntries) {
    long tableEntries = (long) header.refcountTableClusters() * header.clusterSize() / 8;
    long covered = tableEntries * RefcountBlock.entries(header.clusterSize(), header.refcountOrder());
    int allocationWalks = RefcountWalks.allocationWalks(inUse, covered, newBlockEntries, header.clusterSize());
    for (int walk = 0; walk <= allocationWalks; walk++) {
      long totalWalks = walk < allocationWalks ? Math.max(walk + 2, 3) : allocationWalks + 1;
      for (long entry = 0; entry < tableEntries; entry++) {
        reports.report(walk * tableEntries + entry, totalWalks * tableEntries);
      }
      reports.report((walk + 1) * tableEntries, totalWalks * tableEntries);
    }
  }
}
