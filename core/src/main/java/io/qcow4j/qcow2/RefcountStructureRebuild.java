package io.qcow4j.qcow2;

import io.qcow4j.qcow2.format.RefcountBlock;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * check -r all's rebuild of the refcount structures from the references a check counted, as
 * QEMU's rebuild_refcount_structure makes it: each refcount block that covers a referenced cluster
 * is placed in the first free cluster (by the counted references) and written, then the table
 * likewise, the blocks covering the table written again, until the table stops growing; the
 * header then points at the new table. The old table and blocks are left leaked: the check that
 * follows repairs them.
 */
final class RefcountStructureRebuild {
  private final QcowFile image;
  private final Storage storage;
  private final ReferenceCounts counted;
  private final int clusterBits;
  private final int clusterSize;
  private final int refcountOrder;
  private final long perBlock;
  private final long maxRefcount;
  /** Refcounts of the clusters the rebuild allocated (its blocks and table). */
  private final Map<Long, Long> allocated = new HashMap<>();
  /** Block index to the block's host offset. */
  private final TreeMap<Long, Long> table = new TreeMap<>();
  private long tableEntries;
  private long clusterCount;
  /** No cluster below it is free (allocations only ever take clusters). */
  private long firstFreeHint;

  RefcountStructureRebuild(QcowFile image, ReferenceCounts counted) {
    this.image = image;
    this.storage = image.storage();
    this.counted = counted;
    this.clusterBits = image.header().clusterBits();
    this.clusterSize = image.header().clusterSize();
    this.refcountOrder = image.header().refcountOrder();
    this.perBlock = RefcountBlock.entries(clusterSize, refcountOrder);
    this.maxRefcount = RefcountBlock.maxValue(refcountOrder);
    // as QEMU's calculate_refcounts, whose table grows for references past the end of the file (a
    // snapshot table that runs past it): the new structures cover them, and nothing goes there
    this.clusterCount = counted.beyondEnd().isEmpty() ? counted.clusters()
        : Math.max(counted.clusters(), counted.beyondEnd().lastKey() + 1);
  }

  /** Writes the new structures, points the header at them and returns the refcounts over them. */
  Refcounts run() throws IOException {
    writeBlocks(0, clusterCount);
    long tableOffset;
    long tableClusters;
    boolean grown;
    do {
      tableClusters = Math.max(1, Math.ceilDiv(tableEntries * 8, clusterSize));
      tableOffset = allocate(tableClusters);
      long first = tableOffset >>> clusterBits;
      grown = writeBlocks(first, first + tableClusters);
    } while (grown);
    ByteBuffer bytes = ByteBuffer.allocate((int) (tableClusters * clusterSize));
    for (Map.Entry<Long, Long> entry : table.entrySet()) {
      bytes.putLong((int) (entry.getKey() * 8), entry.getValue());
    }
    storage.write(bytes, tableOffset);
    storage.force(false);
    image.updateRefcountTable(tableOffset, (int) tableClusters);
    return new Refcounts(storage.name(), storage, clusterBits, refcountOrder, tableOffset, (int) tableClusters,
        image.guard(), QcowFile.cacheBudget(io.qcow4j.disk.OpenOptions.readWriteDefaults()));
  }

  private long refcount(long cluster) {
    Long mine = allocated.get(cluster);
    if (mine != null) {
      return mine;
    }
    return Math.min(counted.get(cluster), maxRefcount);
  }

  /**
   * Writes the blocks covering the referenced clusters of {@code [first, end)}, placing those
   * that have no place yet; returns whether the table had to grow.
   */
  private boolean writeBlocks(long first, long end) throws IOException {
    boolean grown = false;
    for (long cluster = first; cluster < end && cluster < clusterCount; cluster++) {
      if (refcount(cluster) == 0) {
        continue;
      }
      long blockIndex = cluster / perBlock;
      if (tableEntries <= blockIndex) {
        long entriesPerCluster = clusterSize / 8;
        tableEntries = Math.ceilDiv(blockIndex + 1, entriesPerCluster) * entriesPerCluster;
        grown = true;
      }
      if (!table.containsKey(blockIndex)) {
        table.put(blockIndex, allocate(1));
      }
      byte[] block = new byte[clusterSize];
      long blockStart = blockIndex * perBlock;
      for (long index = 0; index < perBlock && blockStart + index < clusterCount; index++) {
        long value = refcount(blockStart + index);
        if (value != 0) {
          RefcountBlock.set(block, (int) index, refcountOrder, value);
        }
      }
      storage.write(ByteBuffer.wrap(block), table.get(blockIndex));
      cluster = blockStart + perBlock - 1;
    }
    return grown;
  }

  /** QEMU's alloc_clusters_imrt: the first run of {@code count} free clusters, counted as taken. */
  private long allocate(long count) {
    long start = firstFreeHint;
    long run = 0;
    long cluster = firstFreeHint;
    boolean firstGap = true;
    while (run < count) {
      if (cluster >= clusterCount || refcount(cluster) == 0) {
        if (firstGap) {
          firstFreeHint = cluster;
          firstGap = false;
        }
        if (run == 0) {
          start = cluster;
        }
        run++;
      } else {
        run = 0;
      }
      cluster++;
    }
    for (long taken = start; taken < start + count; taken++) {
      allocated.put(taken, 1L);
    }
    clusterCount = Math.max(clusterCount, start + count);
    if (firstFreeHint >= start && firstFreeHint < start + count) {
      firstFreeHint = start + count;
    }
    return start << clusterBits;
  }
}
