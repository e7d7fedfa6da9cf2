package io.qcow4j.qcow2;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.qcow2.format.HeaderCodec;
import io.qcow4j.qcow2.format.RefcountBlock;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The refcount table and blocks of a writable image, and the cluster allocator built on them.
 * Changes stay in memory until {@link #writeBlocks} and {@link #writeTable}; the caller (under the
 * metadata lock) orders those writes before the L2 and L1 entries that need them. Freed clusters
 * are queued and only released by {@link #releasePending}, once the entries that dropped them are
 * durable.
 */
final class Refcounts {
  private static final long TABLE_ENTRY_MASK = ~511L;

  private final String name;
  private final Storage storage;
  private final int clusterBits;
  private final int clusterSize;
  private final int refcountOrder;
  private final long refcountsPerBlock;
  private final long maxRefcount;
  private final Map<Long, byte[]> blocks = new HashMap<>();
  private final TreeSet<Long> dirtyBlocks = new TreeSet<>();
  private final TreeSet<Long> freeClusters = new TreeSet<>();
  /** Host ranges (offset to length) whose references were dropped by entries not yet durable. */
  private final List<long[]> pendingFrees = new ArrayList<>();

  private long[] table;
  private long tableOffset;
  private int tableClusters;
  private boolean tableDirty;
  private boolean tableMoved;
  /** The first cluster index past every cluster in use: where fresh allocations go. */
  private long frontier;

  Refcounts(String name, Storage storage, int clusterBits, int refcountOrder, long tableOffset, int tableClusters)
      throws IOException {
    this.name = name;
    this.storage = storage;
    this.clusterBits = clusterBits;
    this.clusterSize = 1 << clusterBits;
    this.refcountOrder = refcountOrder;
    this.refcountsPerBlock = RefcountBlock.entries(clusterSize, refcountOrder);
    this.maxRefcount = RefcountBlock.maxValue(refcountOrder);
    this.tableOffset = tableOffset;
    this.tableClusters = tableClusters;
    ByteBuffer bytes = ByteBuffer.allocate(tableClusters * clusterSize);
    storage.readFully(bytes, tableOffset);
    this.table = new long[tableClusters * clusterSize / 8];
    bytes.flip().asLongBuffer().get(table);
    this.frontier = findFrontier();
  }

  private long findFrontier() throws IOException {
    long fileClusters = (storage.size() + clusterSize - 1) >>> clusterBits;
    for (int blockIndex = table.length - 1; blockIndex >= 0; blockIndex--) {
      if ((table[blockIndex] & TABLE_ENTRY_MASK) == 0) {
        continue;
      }
      byte[] block;
      try {
        block = block(blockIndex);
      } catch (CorruptImageException e) {
        // A check reports the bad block; allocation just stays clear of it.
        continue;
      }
      for (long index = refcountsPerBlock - 1; index >= 0; index--) {
        if (RefcountBlock.get(block, (int) index, refcountOrder) != 0) {
          return Math.max(fileClusters, blockIndex * refcountsPerBlock + index + 1);
        }
      }
    }
    return fileClusters;
  }

  long tableOffset() {
    return tableOffset;
  }

  int tableClusters() {
    return tableClusters;
  }

  /** The refcount of the cluster at index {@code cluster}. */
  long get(long cluster) throws IOException {
    long blockIndex = cluster / refcountsPerBlock;
    if (blockIndex >= table.length || (table[(int) blockIndex] & TABLE_ENTRY_MASK) == 0) {
      return 0;
    }
    return RefcountBlock.get(block(blockIndex), (int) (cluster % refcountsPerBlock), refcountOrder);
  }

  /** Adds {@code delta} to the refcount of every cluster that overlaps the host range. */
  void adjust(long hostOffset, long length, long delta) throws IOException {
    long first = hostOffset >>> clusterBits;
    long last = (hostOffset + length - 1) >>> clusterBits;
    for (long cluster = first; cluster <= last; cluster++) {
      long current = get(cluster);
      long updated = current + delta;
      if (updated < 0) {
        throw new CorruptImageException(String.format("%s: refcount of cluster at offset 0x%x would drop below zero",
            name, cluster << clusterBits));
      }
      set(cluster, updated);
    }
  }

  /** Sets the refcount of one cluster (repair), moving the allocation frontier past it. */
  void setRefcount(long cluster, long value) throws IOException {
    frontier = Math.max(frontier, cluster + 1);
    set(cluster, value);
  }

  /** Forgets the refcount block covering {@code cluster} (it is invalid); a repair builds a new one. */
  void dropBlockOf(long cluster) {
    long blockIndex = cluster / refcountsPerBlock;
    if (blockIndex < table.length && (table[(int) blockIndex] & TABLE_ENTRY_MASK) != 0) {
      table[(int) blockIndex] = 0;
      blocks.remove(blockIndex);
      dirtyBlocks.remove(blockIndex);
      tableDirty = true;
    }
  }

  /** The host offsets of the refcount blocks the table points at. */
  List<Long> blockOffsets() {
    List<Long> offsets = new ArrayList<>();
    for (long entry : table) {
      if ((entry & TABLE_ENTRY_MASK) != 0) {
        offsets.add(entry & TABLE_ENTRY_MASK);
      }
    }
    return offsets;
  }

  /** Allocates {@code count} contiguous fresh clusters with refcount 1 and returns the host offset of the first. */
  long allocate(int count) throws IOException {
    if (!freeClusters.isEmpty() && freeRunLength(count) >= count) {
      long first = freeClusters.first();
      for (long cluster = first; cluster < first + count; cluster++) {
        set(cluster, 1);
      }
      return first << clusterBits;
    }
    return allocateAtFrontier(count);
  }

  /**
   * How many clusters, at most {@code wanted}, run contiguously from the first free cluster;
   * {@code wanted} when none is free (allocation then goes to the frontier).
   */
  int freeRunLength(int wanted) {
    if (freeClusters.isEmpty()) {
      return wanted;
    }
    long first = freeClusters.first();
    int run = 1;
    while (run < wanted && freeClusters.contains(first + run)) {
      run++;
    }
    return run;
  }

  /** The host offset where fresh allocations at the end of the file go next. */
  long frontierOffset() {
    return frontier << clusterBits;
  }

  /** Allocates {@code count} contiguous clusters at the frontier (never from freed ones). */
  long allocateAtFrontier(int count) throws IOException {
    long first = frontier;
    frontier += count;
    for (long cluster = first; cluster < first + count; cluster++) {
      set(cluster, 1);
    }
    return first << clusterBits;
  }

  /** Queues a host range whose reference was dropped; it is released after the next metadata barrier. */
  void freeLater(long hostOffset, long length) {
    pendingFrees.add(new long[] {hostOffset, length});
  }

  boolean hasPendingFrees() {
    return !pendingFrees.isEmpty();
  }

  /** Whether freed clusters wait to be reused. */
  boolean hasFreeClusters() {
    return !freeClusters.isEmpty();
  }

  /**
   * Releases the queued ranges: refcounts drop, clusters reaching zero are punched and become
   * reusable. Call only once the entries that dropped them are durable.
   */
  void releasePending() throws IOException {
    List<long[]> ranges = new ArrayList<>(pendingFrees);
    pendingFrees.clear();
    for (long[] range : ranges) {
      long first = range[0] >>> clusterBits;
      long last = (range[0] + range[1] - 1) >>> clusterBits;
      for (long cluster = first; cluster <= last; cluster++) {
        long current = get(cluster);
        if (current == 0) {
          throw new CorruptImageException(String.format("%s: freeing cluster at offset 0x%x whose refcount is already 0",
              name, cluster << clusterBits));
        }
        set(cluster, current - 1);
      }
    }
  }

  private void set(long cluster, long value) throws IOException {
    if (Long.compareUnsigned(value, maxRefcount) > 0) {
      throw new ImageLimitException(String.format("%s: refcount of cluster at offset 0x%x would exceed %d, the most %d-bit refcounts hold",
          name, cluster << clusterBits, maxRefcount, 1 << refcountOrder));
    }
    long blockIndex = cluster / refcountsPerBlock;
    if (blockIndex >= table.length) {
      growTable(blockIndex + 1);
    }
    if ((table[(int) blockIndex] & TABLE_ENTRY_MASK) == 0) {
      createBlock(blockIndex);
    }
    byte[] block = block(blockIndex);
    RefcountBlock.set(block, (int) (cluster % refcountsPerBlock), refcountOrder, value);
    dirtyBlocks.add(blockIndex);
    if (value == 0) {
      // A free cluster reads as zeros, so a writer that reuses it need not fill it.
      if (cluster < frontier && freeClusters.add(cluster)) {
        storage.punchHole(cluster << clusterBits, clusterSize);
      }
    } else {
      freeClusters.remove(cluster);
    }
  }

  private void createBlock(long blockIndex) throws IOException {
    long blockCluster = frontier++;
    blocks.put(blockIndex, new byte[clusterSize]);
    table[(int) blockIndex] = blockCluster << clusterBits;
    tableDirty = true;
    dirtyBlocks.add(blockIndex);
    set(blockCluster, 1);
  }

  private void growTable(long neededEntries) throws IOException {
    long entriesPerCluster = clusterSize / 8;
    long wantedEntries = Math.max(neededEntries + 1, table.length * 3L / 2 + 1);
    long newClusters = (wantedEntries + entriesPerCluster - 1) / entriesPerCluster;
    if (newClusters * clusterSize > HeaderCodec.MAX_REFCOUNT_TABLE_BYTES) {
      throw new ImageLimitException(name + ": refcount table would need " + newClusters * clusterSize
          + " bytes, over the limit of " + HeaderCodec.MAX_REFCOUNT_TABLE_BYTES);
    }
    long oldOffset = tableOffset;
    int oldClusters = tableClusters;
    long first = frontier;
    frontier += newClusters;
    table = java.util.Arrays.copyOf(table, (int) (newClusters * entriesPerCluster));
    tableOffset = first << clusterBits;
    tableClusters = (int) newClusters;
    tableDirty = true;
    tableMoved = true;
    for (long cluster = first; cluster < first + newClusters; cluster++) {
      set(cluster, 1);
    }
    freeLater(oldOffset, (long) oldClusters * clusterSize);
  }

  private byte[] block(long blockIndex) throws IOException {
    byte[] block = blocks.get(blockIndex);
    if (block != null) {
      return block;
    }
    long offset = table[(int) blockIndex] & TABLE_ENTRY_MASK;
    if ((offset & (clusterSize - 1)) != 0 || offset + clusterSize > storage.size()) {
      throw new CorruptImageException(String.format(
          "%s: refcount table entry %d points at refcount block offset 0x%x, %s",
          name, blockIndex, offset, (offset & (clusterSize - 1)) != 0 ? "not aligned to a cluster" : "past the end of the file"));
    }
    ByteBuffer bytes = ByteBuffer.allocate(clusterSize);
    storage.readFully(bytes, offset);
    block = bytes.array();
    blocks.put(blockIndex, block);
    return block;
  }

  /** Whether anything awaits writing. */
  boolean isDirty() {
    return !dirtyBlocks.isEmpty() || tableDirty;
  }

  /** Writes the changed refcount blocks (the caller adds the barrier). */
  void writeBlocks() throws IOException {
    for (long blockIndex : dirtyBlocks) {
      storage.write(ByteBuffer.wrap(blocks.get(blockIndex)), table[(int) blockIndex] & TABLE_ENTRY_MASK);
    }
    dirtyBlocks.clear();
    // Clean blocks beyond a modest number are dropped so memory stays bounded on huge images.
    if (blocks.size() > 4096) {
      blocks.clear();
    }
  }

  /**
   * Writes the refcount table if it changed; returns true when it moved, so that the caller
   * records the new place in the header (after a barrier).
   */
  boolean writeTable() throws IOException {
    if (!tableDirty) {
      return false;
    }
    ByteBuffer bytes = ByteBuffer.allocate(tableClusters * clusterSize);
    bytes.asLongBuffer().put(table);
    storage.write(bytes, tableOffset);
    tableDirty = false;
    boolean moved = tableMoved;
    tableMoved = false;
    return moved;
  }

  /** The free clusters known below the frontier, lowest first (for tests and check). */
  TreeMap<Long, Long> freeSummary() {
    TreeMap<Long, Long> summary = new TreeMap<>();
    for (long cluster : freeClusters) {
      summary.put(cluster << clusterBits, (long) clusterSize);
    }
    return summary;
  }
}
