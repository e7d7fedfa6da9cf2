package io.qcow4j.qcow2;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.RefcountOverflowException;
import io.qcow4j.qcow2.format.HeaderCodec;
import io.qcow4j.qcow2.format.RefcountBlock;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The refcount table and blocks of a writable image, and the cluster allocator built on them. Every
 * method runs under the image's metadata lock. Changes stay in memory until a flush takes them
 * ({@link #takeDirty}) and writes them before the L2 and L1 entries that need them. A dropped
 * reference is queued ({@link #freeLater}) and applied only by {@link #release}, once the entry that
 * dropped it is durable and no I/O that could still target the cluster is in flight; a cluster whose
 * refcount reaches zero is punched before it can be handed out again. The write path flushes
 * before it allocates when {@link #freesWouldEmpty} (so allocation follows QEMU's, which reuses a
 * cluster at once).
 */
final class Refcounts {
  /** Bits 0-8 of a refcount-table entry are reserved. */
  private static final long TABLE_RESERVED_MASK = 511L;

  private final String name;
  private final Storage storage;
  private final OverlapGuard guard;
  private final int clusterBits;
  private final int clusterSize;
  private final int refcountOrder;
  private final long refcountsPerBlock;
  private final long maxRefcount;
  private final int cachedBlocks;
  /** Loaded blocks by index, least recently used first; dirty and flushing ones are never dropped. */
  private final LinkedHashMap<Long, byte[]> blocks = new LinkedHashMap<>(16, 0.75f, true);
  /** The same blocks, for reads without the metadata lock ({@link #cachedRefcount}). */
  private final ConcurrentHashMap<Long, byte[]> published = new ConcurrentHashMap<>();
  private final TreeSet<Long> dirtyBlocks = new TreeSet<>();
  /** Blocks made since the last flush took the dirty set: their first write is QEMU's refblock_alloc_write. */
  private final TreeSet<Long> newBlocks = new TreeSet<>();
  private final TreeSet<Long> flushingBlocks = new TreeSet<>();
  /** Clusters whose refcount dropped to zero and whose host range is being punched. */
  private final TreeSet<Long> punching = new TreeSet<>();
  /** Host ranges (offset, length) whose references were dropped by entries not yet durable. */
  private final List<long[]> pendingFrees = new ArrayList<>();
  private volatile boolean hasPendingFrees;
  /** How many of {@link #pendingFrees} {@link #freesWouldEmpty} has counted into {@link #pendingDrops}. */
  private int examinedFrees;
  /** The references the examined queued frees take from each cluster. */
  private final Map<Long, Long> pendingDrops = new HashMap<>();
  /** Whether releasing the examined queued frees brings a cluster to refcount zero. */
  private boolean freesEmptyCluster;

  private long[] table;
  private long tableOffset;
  private int tableClusters;
  private boolean tableDirty;
  /**
   * Whether refcount updates are deferred (lazy refcounts with the dirty bit set): flushes leave
   * the blocks dirty, except what an L2 table's allocation needs (see {@link #allocate(int, String)}).
   */
  private boolean deferring;
  /** Block images taken when an L2 table was allocated while deferring, for the next flush to write in order. */
  private final List<DirtyRefcounts> pendingSnapshots = new ArrayList<>();
  private boolean tableMoved;
  /** The first cluster index past every cluster in use: where fresh allocations go. */
  private volatile long frontier;
  /** Where the search for free clusters starts: no cluster below it is free (QEMU's free_cluster_index). */
  private long freeCursor;
  /** How many clusters the file held when opened. */
  private final long clustersAtOpen;

  Refcounts(String name, Storage storage, int clusterBits, int refcountOrder, long tableOffset, int tableClusters)
      throws IOException {
    this(name, storage, clusterBits, refcountOrder, tableOffset, tableClusters, new OverlapGuard(name, clusterBits),
        4L << 20);
  }

  Refcounts(String name, Storage storage, int clusterBits, int refcountOrder, long tableOffset, int tableClusters,
      OverlapGuard guard, long cacheBytes) throws IOException {
    this.name = name;
    this.storage = storage;
    this.guard = guard;
    this.clusterBits = clusterBits;
    this.clusterSize = 1 << clusterBits;
    this.refcountOrder = refcountOrder;
    this.refcountsPerBlock = RefcountBlock.entries(clusterSize, refcountOrder);
    this.maxRefcount = RefcountBlock.maxValue(refcountOrder);
    this.cachedBlocks = (int) Math.max(8, Math.min(1 << 16, cacheBytes >>> clusterBits));
    this.tableOffset = tableOffset;
    this.tableClusters = tableClusters;
    ByteBuffer bytes = ByteBuffer.allocate(tableClusters * clusterSize);
    storage.debugEvent("reftable_load");
    // inside the file (HeaderCodec), except for a check, which reads zeros past its end as QEMU
    storage.readOrZero(bytes, tableOffset);
    this.table = new long[tableClusters * clusterSize / 8];
    bytes.flip().asLongBuffer().get(table);
    this.clustersAtOpen = (storage.size() + clusterSize - 1) >>> clusterBits;
    this.frontier = findFrontier();
  }

  /**
   * The end of the clusters in use: the file's end, or past the last cluster with a refcount among
   * the blocks that cover the file (a crash can leave refcounts of fresh clusters the file does not
   * reach yet). Blocks past the file's end are not read, so a hostile table costs at most one read
   * per block of real clusters, and no block read here is kept.
   */
  private long findFrontier() throws IOException {
    long fileClusters = (storage.size() + clusterSize - 1) >>> clusterBits;
    long lastBlock = Math.min(table.length - 1, fileClusters / refcountsPerBlock);
    byte[] scratch = new byte[clusterSize];
    for (long blockIndex = lastBlock; blockIndex >= 0; blockIndex--) {
      long offset = blockOffsetOrZero(blockIndex);
      if (offset == 0) {
        continue;
      }
      storage.readOrZero(ByteBuffer.wrap(scratch), offset);
      for (long index = refcountsPerBlock - 1; index >= 0; index--) {
        if (RefcountBlock.get(scratch, (int) index, refcountOrder) != 0) {
          return Math.max(fileClusters, blockIndex * refcountsPerBlock + index + 1);
        }
      }
    }
    return fileClusters;
  }

  /** The block offset of a table entry, 0 when the entry is empty or invalid (a check reports those). */
  private long blockOffsetOrZero(long blockIndex) {
    long entry = table[(int) blockIndex];
    return (entry & TABLE_RESERVED_MASK) != 0 || entry < 0 ? 0 : entry;
  }

  /** The refcount table's entries as they are in memory (the caller must not change them). */
  long[] tableEntries() {
    return table;
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
    if (blockIndex >= table.length || table[(int) blockIndex] == 0) {
      return 0;
    }
    return RefcountBlock.get(block(blockIndex), (int) (cluster % refcountsPerBlock), refcountOrder);
  }

  /**
   * The refcount of the cluster at index {@code cluster} when its block is loaded, else -1: safe
   * without the metadata lock. A change of another refcount in the same block, made meanwhile
   * under the lock, never changes the bits of this one.
   */
  long cachedRefcount(long cluster) {
    byte[] block = published.get(cluster / refcountsPerBlock);
    return block == null ? -1 : RefcountBlock.get(block, (int) (cluster % refcountsPerBlock), refcountOrder);
  }

  /**
   * Adds one reference to every cluster that overlaps the host range, or to none of them: when one
   * refcount already holds the largest value of its width, the increase is refused before anything
   * changes (QEMU's update_refcount refuses it with EINVAL). Refcounts are unsigned: a 64-bit one
   * may have its top bit set.
   */
  void increment(long hostOffset, long length) throws IOException {
    long first = hostOffset >>> clusterBits;
    long last = (hostOffset + length - 1) >>> clusterBits;
    for (long cluster = first; cluster <= last; cluster++) {
      if (!canIncrement(cluster)) {
        throw new RefcountOverflowException(String.format(
            "%s: refcount of cluster at offset 0x%x is already %s, the most %d-bit refcounts hold",
            name, cluster << clusterBits, Long.toUnsignedString(maxRefcount), 1 << refcountOrder));
      }
    }
    refcountUpdate(first, last);
    for (long cluster = first; cluster <= last; cluster++) {
      set(cluster, get(cluster) + 1);
    }
  }

  /**
   * Takes one reference from every cluster that overlaps the host range, or from none of them: a
   * refcount already at zero is corruption, found before anything changes.
   */
  void decrement(long hostOffset, long length) throws IOException {
    long first = hostOffset >>> clusterBits;
    long last = (hostOffset + length - 1) >>> clusterBits;
    refcountUpdate(first, last);
    for (long cluster = first; cluster <= last; cluster++) {
      if (get(cluster) == 0) {
        throw new CorruptImageException(String.format("%s: refcount of cluster at offset 0x%x would drop below zero",
            name, cluster << clusterBits));
      }
    }
    for (long cluster = first; cluster <= last; cluster++) {
      set(cluster, get(cluster) - 1);
    }
  }

  /** Whether the refcount of the cluster at index {@code cluster} can take one more reference. */
  boolean canIncrement(long cluster) throws IOException {
    return get(cluster) != maxRefcount;
  }

  /** The largest refcount this image's width holds (unsigned: -1 is 2^64-1 for 64-bit refcounts). */
  long maxRefcount() {
    return maxRefcount;
  }

  /** Sets the refcount of one cluster (repair), moving the allocation frontier past it. */
  void setRefcount(long cluster, long value) throws IOException {
    frontier = Math.max(frontier, cluster + 1);
    set(cluster, value);
  }

  /** Forgets the refcount block covering {@code cluster} (it is invalid); a repair builds a new one. */
  void dropBlockOf(long cluster) {
    long blockIndex = cluster / refcountsPerBlock;
    if (blockIndex < table.length && table[(int) blockIndex] != 0) {
      table[(int) blockIndex] = 0;
      blocks.remove(blockIndex);
      published.remove(blockIndex);
      dirtyBlocks.remove(blockIndex);
      tableDirty = true;
    }
  }

  /** The host offsets of the valid refcount blocks the table points at. */
  List<Long> blockOffsets() {
    List<Long> offsets = new ArrayList<>();
    for (long blockIndex = 0; blockIndex < table.length; blockIndex++) {
      long offset = blockOffsetOrZero(blockIndex);
      if (offset != 0) {
        offsets.add(offset);
      }
    }
    return offsets;
  }

  /**
   * Allocates {@code count} contiguous clusters with refcount 1 and returns the host offset of the
   * first: the first run of that many free clusters from the free-cluster cursor, as QEMU allocates
   * (shorter holes are passed over), which is the end of the clusters in use when nothing below is
   * free. A reused cluster is punched first: it may hold an earlier owner's bytes, and a fresh
   * cluster must read as zeros.
   */
  long allocate(int count) throws IOException {
    return allocate(count, "cluster");
  }

  /**
   * As {@link #allocate(int)}, for {@code purpose} ("L2 table"), which names it in the corruption
   * found when the refcounts call the header's cluster free (QEMU: "Preventing invalid allocation
   * of L2 table at offset 0").
   */
  long allocate(int count, String purpose) throws IOException {
    storage.debugEvent("cluster_alloc");
    long first = allocateRun(count, purpose);
    if (deferring && purpose.equals("L2 table")) {
      // As QEMU's l2_allocate, which writes its refcount cache before the new table is used: the
      // refcounts as they are now (the table's own included, the data's allocated after not)
      pendingSnapshots.add(takeDirty());
    }
    return first;
  }

  private long allocateRun(int count, String purpose) throws IOException {
    long first = firstFreeRun(count, purpose);
    take(first, count);
    freeCursor = first + count;
    return first << clusterBits;
  }

  /**
   * Allocates clusters at exactly cluster index {@code first} and after it, as QEMU's
   * qcow2_alloc_clusters_at: as many of the {@code count} as are free there in a row (none when the
   * first is not), each with refcount 1; returns how many. The free-cluster cursor stays (QEMU's
   * does too). Reused clusters are punched first, as {@link #allocate(int)} punches them.
   */
  int allocateAt(long first, int count) throws IOException {
    int free = 0;
    while (free < count && unusableUntil(first + free, "cluster") == first + free) {
      free++;
    }
    if (free == 0) {
      return 0;
    }
    take(first, free);
    return free;
  }

  /**
   * Gives the free clusters {@code first} to {@code first + count - 1} refcount 1, punching the
   * reused ones (below the frontier) first and moving the frontier past them.
   */
  private void take(long first, int count) throws IOException {
    long reusedEnd = Math.min(first + count, frontier);
    if (first < reusedEnd) {
      storage.punchHole(first << clusterBits, (reusedEnd - first) << clusterBits);
    }
    frontier = Math.max(frontier, first + count);
    refcountUpdate(first, first + count - 1);
    for (long cluster = first; cluster < first + count; cluster++) {
      set(cluster, 1);
    }
  }

  /** The first cluster of a run of {@code count} free clusters at or after the cursor. */
  private long firstFreeRun(int count, String purpose) throws IOException {
    long runStart = freeCursor;
    long run = 0;
    while (run < count) {
      long cluster = runStart + run;
      if (cluster >= frontier) {
        return runStart;
      }
      long skipTo = unusableUntil(cluster, purpose);
      if (skipTo > cluster) {
        runStart = skipTo;
        run = 0;
      } else {
        run++;
      }
    }
    return runStart;
  }

  /**
   * Where the clusters that cannot be handed out, starting at {@code cluster}, end: the cluster
   * itself when it is free. In use, being punched, holding metadata, or counted by a damaged block
   * or by no block while the file held it at open (nothing tells which of those are free).
   */
  private long unusableUntil(long cluster, String purpose) throws IOException {
    long blockIndex = cluster / refcountsPerBlock;
    boolean missing = blockIndex >= table.length || table[(int) blockIndex] == 0;
    boolean damaged = !missing && blockOffsetOrZero(blockIndex) == 0;
    if (cluster == 0 && (missing || damaged)) {
      // The header's cluster is always in use: its refcount reads 0 only when the refcount
      // structures are damaged, and allocating by them would hand out clusters in use (QEMU:
      // "Preventing invalid allocation of refcount block at offset 0").
      throw new CorruptImageException(name + ": preventing invalid allocation: the refcount of the header cluster"
          + " is 0 (refcount table entry 0 " + (missing ? "is empty" : "is invalid") + ")");
    }
    if (damaged || missing && cluster < clustersAtOpen) {
      return Math.min(frontier, (blockIndex + 1) * refcountsPerBlock);
    }
    long refcount = get(cluster);
    if (cluster == 0 && refcount == 0) {
      // The header's cluster counted free: the refcounts are damaged, and QEMU's allocator, which
      // would hand it out, refuses it as corruption.
      throw CorruptImageException.withEvent(name + ": preventing invalid allocation of " + purpose
          + " at offset 0: the refcount of the header cluster is 0",
          "Preventing invalid allocation of " + purpose + " at offset 0");
    }
    if (refcount != 0 || punching.contains(cluster) || guard.holdsMetadata(cluster << clusterBits, clusterSize)) {
      return cluster + 1;
    }
    return cluster;
  }

  /** The host offset where fresh allocations at the end of the file go next. */
  long frontierOffset() {
    return frontier << clusterBits;
  }

  /** The end of the clusters this image owns: no write or free may reach past it. */
  long ownedEnd() {
    return frontier << clusterBits;
  }

  /**
   * Allocates {@code count} contiguous clusters for compressed bytes, as {@link #allocate(int)}
   * finds them (QEMU's qcow2_alloc_bytes takes them from the same allocator, a freed one first);
   * the caller raised cluster_alloc_bytes.
   */
  long allocateForBytes(int count) throws IOException {
    return allocateRun(count, "compressed cluster");
  }

  /**
   * Takes back clusters just allocated that nothing maps (a write that failed before its entry was
   * stored): their refcounts drop to zero, and the allocator may hand them out again at once.
   */
  void abortAllocation(long hostOffset, long length) throws IOException {
    storage.debugEvent("cluster_free");
    decrement(hostOffset, length);
    freeCursor = Math.min(freeCursor, hostOffset >>> clusterBits);
  }

  /** Queues a host range whose reference was dropped; it is released once the drop is durable. */
  void freeLater(long hostOffset, long length) {
    // QEMU's qcow2_free_clusters raises it where the reference goes, not where the refcount drops
    storage.debugEvent("cluster_free");
    pendingFrees.add(new long[] {hostOffset, length});
    hasPendingFrees = true;
  }

  /**
   * As {@link #freeLater}, with the refcount blocks of the range looked up first, as QEMU's
   * qcow2_free_clusters updates them at once: when one cannot be read the free is not queued (the
   * clusters leak, as QEMU leaks them) and the failure is thrown.
   */
  void freeLaterLoaded(long hostOffset, long length) throws IOException {
    storage.debugEvent("cluster_free");
    long first = hostOffset >>> clusterBits;
    long last = (hostOffset + length - 1) >>> clusterBits;
    refcountUpdate(first, last);
    for (long blockIndex = first / refcountsPerBlock; blockIndex <= last / refcountsPerBlock; blockIndex++) {
      get(Math.max(first, blockIndex * refcountsPerBlock));
    }
    pendingFrees.add(new long[] {hostOffset, length});
    hasPendingFrees = true;
  }

  /** Whether dropped references wait for a flush (read without the lock: a hint). */
  boolean hasPendingFrees() {
    return hasPendingFrees;
  }

  /**
   * Whether releasing the queued frees would bring a cluster to refcount zero: one QEMU's
   * allocator, which frees at once, would hand out again. Counts each queued free once, so asking
   * again after more frees costs only the new ones.
   */
  boolean freesWouldEmpty() throws IOException {
    while (examinedFrees < pendingFrees.size()) {
      long[] range = pendingFrees.get(examinedFrees++);
      long first = range[0] >>> clusterBits;
      long last = (range[0] + range[1] - 1) >>> clusterBits;
      for (long cluster = first; cluster <= last; cluster++) {
        long drops = pendingDrops.merge(cluster, 1L, Long::sum);
        if (cluster < frontier && get(cluster) == drops) {
          freesEmptyCluster = true;
        }
      }
    }
    return freesEmptyCluster;
  }

  /** Takes the queued frees; a flush releases them once the entries that dropped them are durable. */
  List<long[]> takePendingFrees() {
    List<long[]> taken = new ArrayList<>(pendingFrees);
    pendingFrees.clear();
    hasPendingFrees = false;
    forgetExamined();
    return taken;
  }

  /** Puts frees taken by a failed flush back in the queue. */
  void restorePendingFrees(List<long[]> frees) {
    pendingFrees.addAll(0, frees);
    hasPendingFrees = !pendingFrees.isEmpty();
    forgetExamined();
  }

  private void forgetExamined() {
    examinedFrees = 0;
    pendingDrops.clear();
    freesEmptyCluster = false;
  }

  /**
   * Applies dropped references whose dropping entries are durable: refcounts go down, and clusters
   * reaching zero are returned, held back from allocation until {@link #reusable} after their host
   * ranges are punched. A range past the image's end or already at zero is corruption.
   */
  List<Long> release(List<long[]> frees) throws IOException {
    List<Long> emptied = new ArrayList<>();
    for (long[] range : frees) {
      long first = range[0] >>> clusterBits;
      long last = (range[0] + range[1] - 1) >>> clusterBits;
      refcountUpdate(first, last);
      for (long cluster = first; cluster <= last; cluster++) {
        long current = get(cluster);
        if (current == 0) {
          throw new CorruptImageException(String.format("%s: freeing cluster at offset 0x%x whose refcount is already 0",
              name, cluster << clusterBits));
        }
        set(cluster, current - 1);
        if (current == 1 && cluster < frontier) {
          punching.add(cluster);
          emptied.add(cluster);
        }
      }
    }
    return emptied;
  }

  /** Makes clusters from {@link #release} allocatable again, their host ranges punched; the cursor goes back to them. */
  void reusable(List<Long> clusters) {
    for (long cluster : clusters) {
      if (punching.remove(cluster)) {
        freeCursor = Math.min(freeCursor, cluster);
      }
    }
  }

  /**
   * Reports the refcount update of clusters {@code first} to {@code last} to the storage, as QEMU's
   * update_refcount looks up each block it touches (alloc_refcount_block: refblock_alloc, then
   * load_refcount_block: refblock_load, raised whether or not the block is read then).
   */
  private void refcountUpdate(long first, long last) {
    for (long blockIndex = first / refcountsPerBlock; blockIndex <= last / refcountsPerBlock; blockIndex++) {
      storage.debugEvent("refblock_alloc");
      storage.debugEvent("refblock_load");
    }
  }

  private void set(long cluster, long value) throws IOException {
    if (Long.compareUnsigned(value, maxRefcount) > 0) {
      throw new RefcountOverflowException(String.format(
          "%s: refcount of cluster at offset 0x%x would exceed %s, the most %d-bit refcounts hold",
          name, cluster << clusterBits, Long.toUnsignedString(maxRefcount), 1 << refcountOrder));
    }
    long blockIndex = cluster / refcountsPerBlock;
    if (blockIndex >= table.length) {
      growTable(blockIndex + 1);
    }
    if (table[(int) blockIndex] == 0) {
      createBlock(blockIndex);
    }
    byte[] block = block(blockIndex);
    dirtyBlocks.add(blockIndex);
    RefcountBlock.set(block, (int) (cluster % refcountsPerBlock), refcountOrder, value);
  }

  /**
   * Makes the refcount block covering {@code cluster} when there is none (growing the table if
   * needed), as QEMU's alloc_refcount_block does; returns whether it had to.
   */
  boolean ensureBlock(long cluster) throws IOException {
    long blockIndex = cluster / refcountsPerBlock;
    if (blockIndex < table.length && table[(int) blockIndex] != 0) {
      return false;
    }
    if (blockIndex >= table.length) {
      growTable(blockIndex + 1);
    }
    if (table[(int) blockIndex] == 0) {
      createBlock(blockIndex);
    }
    return true;
  }

  private void createBlock(long blockIndex) throws IOException {
    long blockCluster = frontier++;
    byte[] block = new byte[clusterSize];
    blocks.put(blockIndex, block);
    published.put(blockIndex, block);
    table[(int) blockIndex] = blockCluster << clusterBits;
    guard.add(OverlapGuard.Structure.REFCOUNT_BLOCK, blockCluster << clusterBits, clusterSize);
    tableDirty = true;
    dirtyBlocks.add(blockIndex);
    newBlocks.add(blockIndex);
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
    table = Arrays.copyOf(table, (int) (newClusters * entriesPerCluster));
    tableOffset = first << clusterBits;
    tableClusters = (int) newClusters;
    tableDirty = true;
    tableMoved = true;
    guard.remove(OverlapGuard.Structure.REFCOUNT_TABLE, oldOffset, (long) oldClusters * clusterSize);
    guard.add(OverlapGuard.Structure.REFCOUNT_TABLE, tableOffset, (long) tableClusters * clusterSize);
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
    long entry = table[(int) blockIndex];
    String problem = (entry & TABLE_RESERVED_MASK) != 0 ? "has reserved bits set (not aligned to a cluster)"
        : (entry & (clusterSize - 1)) != 0 ? "is not aligned to a cluster" : null;
    if (problem == null) {
      // Checked before its values are used: a block that is another structure would free or punch it.
      guard.check(entry, clusterSize, OverlapGuard.Structure.REFCOUNT_BLOCK.bit(), 0,
          "refcount block load (refcount table entry " + blockIndex + ")");
      // Compared without adding to the entry, which could wrap past Long.MAX_VALUE.
      problem = entry < 0 || entry > storage.size() - clusterSize ? "lies past the end of the image" : null;
    }
    if (problem != null) {
      String message = String.format("%s: refcount table entry %d (refcount block offset 0x%x) %s",
          name, blockIndex, entry, problem);
      // QEMU masks the reserved bits off and checks the rest against the cluster size
      long masked = entry & ~TABLE_RESERVED_MASK;
      throw (masked & (clusterSize - 1)) != 0
          ? CorruptImageException.withEvent(message, "Refblock offset " + CFormat.hex(masked)
              + " unaligned (reftable index: " + CFormat.hex(blockIndex) + ")")
          : new CorruptImageException(message);
    }
    // no event: QEMU raises refblock_load where a refcount update looks the block up (refcountUpdate)
    ByteBuffer bytes = ByteBuffer.allocate(clusterSize);
    storage.readFully(bytes, entry);
    block = bytes.array();
    blocks.put(blockIndex, block);
    published.put(blockIndex, block);
    evictBlocks(blockIndex);
    return block;
  }

  /**
   * Drops the least recently used clean blocks beyond the budget, never {@code keep}: the block a
   * caller is about to change (when every other block is dirty, the cache grows past its budget
   * rather than drop it, which would lose the change).
   */
  private void evictBlocks(long keep) {
    if (blocks.size() <= cachedBlocks) {
      return;
    }
    Iterator<Long> eldest = blocks.keySet().iterator();
    while (blocks.size() > cachedBlocks && eldest.hasNext()) {
      long blockIndex = eldest.next();
      if (blockIndex != keep && !dirtyBlocks.contains(blockIndex) && !flushingBlocks.contains(blockIndex)) {
        eldest.remove();
        published.remove(blockIndex);
      }
    }
  }

  /** What one flush writes of the refcount side: block images, then the table when it changed. */
  record DirtyRefcounts(Map<Long, byte[]> blocks, Map<Long, Long> blockOffsets, long[] table, long tableOffset,
      int tableClusters, boolean tableMoved, java.util.Set<Long> newBlocks) {
    boolean isEmpty() {
      return blocks.isEmpty() && table == null;
    }
  }

  /** Hands the dirty blocks and table to a flush as copies; they stay cached until {@link #written}. */
  DirtyRefcounts takeDirty() {
    Map<Long, byte[]> images = new TreeMap<>();
    Map<Long, Long> offsets = new TreeMap<>();
    for (long blockIndex : dirtyBlocks) {
      images.put(blockIndex, blocks.get(blockIndex).clone());
      offsets.put(blockIndex, table[(int) blockIndex]);
      flushingBlocks.add(blockIndex);
    }
    dirtyBlocks.clear();
    long[] tableImage = tableDirty ? table.clone() : null;
    boolean moved = tableMoved;
    tableDirty = false;
    tableMoved = false;
    java.util.Set<Long> made = new TreeSet<>(newBlocks);
    newBlocks.clear();
    return new DirtyRefcounts(images, offsets, tableImage, tableOffset, tableClusters, moved, made);
  }

  /** Writes a flush's block images (the caller adds the barrier after). */
  void writeBlocks(DirtyRefcounts dirty) throws IOException {
    if (dirty.tableMoved()) {
      // QEMU's qcow2_refcount_area: the new blocks, then the new table, then the header's switch
      storage.debugEvent("refblock_alloc_write_blocks");
    }
    if (!dirty.blocks().isEmpty()) {
      guard.refuseWhileUncheckable();
    }
    for (Map.Entry<Long, byte[]> block : dirty.blocks().entrySet()) {
      if (!dirty.tableMoved() && dirty.newBlocks().contains(block.getKey())) {
        storage.debugEvent("refblock_alloc_write");
      }
      storage.debugEvent("refblock_update_part");
      storage.write(ByteBuffer.wrap(block.getValue()), dirty.blockOffsets().get(block.getKey()));
    }
  }

  /** Writes a flush's table image, if it has one. */
  void writeTable(DirtyRefcounts dirty) throws IOException {
    if (dirty.table() == null) {
      return;
    }
    guard.refuseWhileUncheckable();
    ByteBuffer bytes = ByteBuffer.allocate(dirty.tableClusters() * clusterSize);
    bytes.asLongBuffer().put(dirty.table());
    // a new block's table entry (QEMU writes it alone), or a whole new table
    storage.debugEvent(dirty.tableMoved() ? "refblock_alloc_write_table"
        : dirty.newBlocks().isEmpty() ? "reftable_update" : "refblock_alloc_hookup");
    storage.write(bytes, dirty.tableOffset());
  }

  /** Ends a flush's hold on its blocks. */
  void written(DirtyRefcounts dirty) {
    flushingBlocks.removeAll(dirty.blocks().keySet());
    evictBlocks(-1);
  }

  /** Takes a failed flush's blocks and table back as dirty. */
  void restoreDirty(DirtyRefcounts dirty) {
    flushingBlocks.removeAll(dirty.blocks().keySet());
    dirtyBlocks.addAll(dirty.blocks().keySet());
    newBlocks.addAll(dirty.newBlocks());
    if (dirty.table() != null) {
      tableDirty = true;
      tableMoved |= dirty.tableMoved();
    }
  }

  /** Defers refcount updates (lazy refcounts, dirty bit set) or stops deferring them. */
  void deferUpdates(boolean value) {
    deferring = value;
  }

  /** Whether refcount updates are deferred now. */
  boolean deferring() {
    return deferring;
  }

  /** Whether the refcount table changed since it was last handed to a flush. */
  boolean tableChanged() {
    return tableDirty;
  }

  /** The block images taken at L2 table allocations, in order, for a flush to write. */
  List<DirtyRefcounts> takePendingSnapshots() {
    List<DirtyRefcounts> taken = new ArrayList<>(pendingSnapshots);
    pendingSnapshots.clear();
    return taken;
  }

  /** Writes everything dirty now (closing: no flush can run meanwhile). */
  boolean writeAll() throws IOException {
    // images taken earlier are superseded by the blocks as they are now
    for (DirtyRefcounts snapshot : takePendingSnapshots()) {
      restoreDirty(snapshot);
    }
    DirtyRefcounts dirty = takeDirty();
    try {
      writeBlocks(dirty);
      writeTable(dirty);
    } catch (IOException | RuntimeException e) {
      restoreDirty(dirty);
      throw e;
    }
    written(dirty);
    return !dirty.isEmpty();
  }
}
