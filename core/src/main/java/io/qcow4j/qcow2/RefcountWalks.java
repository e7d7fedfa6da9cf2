package io.qcow4j.qcow2;

import java.util.BitSet;

/**
 * The walks QEMU 7.2's qcow2_change_refcount_order makes over the refcount table, for its progress
 * reports: allocation walks until one allocates nothing (each allocating the new refcount blocks
 * that cover clusters in use, then a new refcount table), then the walk that writes the blocks.
 * The allocations are simulated with QEMU's first-fit cursor over the clusters in use; the engine
 * then rebuilds the structures its own way. Not simulated: a cluster allocated past the clusters
 * the old table's blocks cover, which in QEMU would also add an old refcount block.
 */
final class RefcountWalks {
  private RefcountWalks() {}

  /**
   * The number of allocation walks for a change to blocks of {@code newBlockEntries} entries, with
   * {@code inUse} the clusters whose refcount is not zero (changed: the simulated allocations are
   * added), {@code coveredClusters} the clusters the old table's entries cover.
   */
  static int allocationWalks(BitSet inUse, long coveredClusters, long newBlockEntries, int clusterSize) {
    long tableEntriesPerCluster = clusterSize / 8;
    long[] cursor = {0};
    BitSet newBlocks = new BitSet();
    long newTableSize = 0;
    long tableStart = -1;
    long tableClusters = 0;
    int walks = 0;
    boolean allocated;
    do {
      walks++;
      allocated = false;
      long lastBlock = (coveredClusters + newBlockEntries - 1) / newBlockEntries;
      for (long block = nextUsedBlock(inUse, 0, newBlockEntries); block >= 0 && block < lastBlock;
          block = nextUsedBlock(inUse, (block + 1) * newBlockEntries, newBlockEntries)) {
        if (block >= newTableSize) {
          newTableSize = (block + 1 + tableEntriesPerCluster - 1) / tableEntriesPerCluster * tableEntriesPerCluster;
        }
        if (!newBlocks.get((int) block)) {
          allocate(inUse, cursor, 1);
          newBlocks.set((int) block);
          allocated = true;
        }
      }
      if (allocated) {
        if (tableStart >= 0) {
          inUse.clear((int) tableStart, (int) (tableStart + tableClusters));
          cursor[0] = Math.min(cursor[0], tableStart);
        }
        tableClusters = (newTableSize * 8 + clusterSize - 1) / clusterSize;
        tableStart = allocate(inUse, cursor, tableClusters);
      }
    } while (allocated);
    return walks;
  }

  private static long nextUsedBlock(BitSet inUse, long fromCluster, long newBlockEntries) {
    if (fromCluster > Integer.MAX_VALUE) {
      return -1;
    }
    int next = inUse.nextSetBit((int) fromCluster);
    return next < 0 ? -1 : next / newBlockEntries;
  }

  /** qcow2_alloc_clusters' first fit from the free-cluster cursor, which ends past the run. */
  private static long allocate(BitSet inUse, long[] cursor, long clusters) {
    long start = cursor[0];
    while (true) {
      int used = inUse.nextSetBit((int) start);
      if (used < 0 || used >= start + clusters) {
        inUse.set((int) start, (int) (start + clusters));
        cursor[0] = start + clusters;
        return start;
      }
      start = used + 1;
    }
  }
}
