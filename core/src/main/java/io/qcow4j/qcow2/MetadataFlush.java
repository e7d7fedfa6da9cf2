package io.qcow4j.qcow2;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.qcow2.format.Features;
import io.qcow4j.qcow2.format.L2Entry;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * Makes the write side's metadata durable in the order that keeps a crash harmless, and runs the
 * exclusive operations; it holds the engine's locks, so their order is kept in this one place.
 *
 * <p>The lock order (ARCHITECTURE.md, "Concurrency"): {@code flushLock}, then the gate of
 * {@link InFlightIo}, then {@code metaLock}, then the header lock ({@link HeaderWriter}). A thread
 * inside an epoch never waits for {@code flushLock} or calls {@link #flush}, so
 * {@link InFlightIo#awaitEarlier} cannot wait for itself.
 */
final class MetadataFlush {
  /** Serializes flushes; taken before the gate and the metadata lock. */
  private final ReentrantLock flushLock = new ReentrantLock();
  /** Epochs of in-flight host I/O, and the gate of exclusive operations. */
  final InFlightIo io = new InFlightIo();
  /** Guards the caches, the allocator and the reservations; never held across data I/O or a barrier. */
  final ReentrantLock metaLock = new ReentrantLock();
  final Reservations reservations = new Reservations(metaLock, this::beforeFirstChange);
  private final QcowFile image;
  private final Storage storage;
  private final Storage dataStorage;
  private final ClusterLookup lookup;
  /** The refcounts the write path uses now (a rebuild replaces them). */
  private final Supplier<Refcounts> refcounts;
  /**
   * Run under the metadata lock when released references emptied clusters (with no I/O that began
   * before the frees in flight), and after every exclusive operation that changes the image.
   */
  private final Runnable clustersEmptied;
  private final int clusterBits;
  private final int clusterSize;
  /** Guest clusters of an external data file to punch once their dropping entries are durable. */
  private final List<Long> dataFilePunches = new ArrayList<>();
  private boolean dirtyBitSet;
  private volatile boolean autoclearBitsCleared;

  MetadataFlush(QcowFile image, Storage storage, Storage dataStorage, ClusterLookup lookup,
      Supplier<Refcounts> refcounts, Runnable clustersEmptied, int clusterBits) {
    this.image = image;
    this.storage = storage;
    this.dataStorage = dataStorage;
    this.lookup = lookup;
    this.refcounts = refcounts;
    this.clustersEmptied = clustersEmptied;
    this.clusterBits = clusterBits;
    this.clusterSize = 1 << clusterBits;
  }

  // ---------------------------------------------------------------- before the first change

  /** Clears the autoclear bits we do not maintain before the first change that lands (see QcowFile). */
  void beforeFirstChange() throws IOException {
    if (!autoclearBitsCleared) {
      image.clearAutoclearBits();
      autoclearBitsCleared = true;
    }
  }

  /** Sets the dirty bit before the first deferred refcount update of a lazy-refcounts image. */
  void markDirty() throws IOException {
    if (dirtyBitSet || !image.usesLazyRefcounts()) {
      return;
    }
    image.changeIncompatibleFeatures(Features.INCOMPAT_DIRTY, 0);
    storage.force(false);
    dirtyBitSet = true;
    refcounts().deferUpdates(true);
  }

  /**
   * Queues the punch of an external data file cluster whose mapping was dropped, for after the
   * flush that makes the dropping entry durable; caller holds the metadata lock.
   */
  void punchLater(long clusterStart) {
    dataFilePunches.add(clusterStart);
  }

  // ---------------------------------------------------------------- flush

  /**
   * Called before a change that allocates clusters (outside any epoch; {@code allocates} says,
   * inside one, whether the change would allocate). QEMU's allocator hands a cluster out again the
   * moment its refcount reaches zero; ours holds a dropped reference back until the entry that
   * dropped it is durable (invariant 3). So when the queued frees would empty a cluster, flush now:
   * the dropping entries reach the file, the frees are released and the cursor goes back to them,
   * and the allocation lands where QEMU's does, into clusters nothing on disk points at any more.
   */
  void releaseFreesBeforeAllocating(AllocationProbe allocates) throws IOException {
    if (!refcounts().hasPendingFrees()) {
      return;
    }
    boolean wouldEmpty;
    metaLock.lock();
    try {
      wouldEmpty = image.guarded(() -> refcounts().freesWouldEmpty());
    } finally {
      metaLock.unlock();
    }
    if (!wouldEmpty) {
      return;
    }
    boolean flushNow;
    long epoch = io.enter();
    try {
      flushNow = allocates.allocates();
    } finally {
      io.exit(epoch);
    }
    if (flushNow) {
      flush();
    }
  }

  /** Whether a change about to be made would allocate clusters (asked inside an epoch). */
  interface AllocationProbe {
    boolean allocates() throws IOException;
  }

  void flushIfCacheFull() throws IOException {
    if (lookup.dirtySliceCount() > lookup.cacheCapacity() / 2) {
      flush();
    }
  }

  /**
   * Writes dirty metadata in dependency order: refcount blocks, then the refcount table (and the
   * header if it moved), then L2 slices, then the L1 table, with a barrier between each step that
   * has something to write (lazy refcounts skip the refcount barriers, the dirty bit covers them).
   * What it writes is a copy of the dirty set taken under the lock, so I/O goes on meanwhile. The
   * references the written entries dropped are then released: only those, since a reference dropped
   * after the copy was taken is not durable yet.
   */
  void flush() throws IOException {
    flushLock.lock();
    try {
      boolean lazy;
      List<Refcounts.DirtyRefcounts> dirtyRefcounts;
      ClusterLookup.DirtyTables dirtyTables;
      List<long[]> frees;
      List<Long> punches;
      metaLock.lock();
      try {
        lazy = dirtyBitSet;
        // Lazy refcounts (QEMU's qcow2_write_caches): the refcount blocks stay dirty, except the
        // images an L2 table allocation took and any change of the refcount table
        dirtyRefcounts = new ArrayList<>(refcounts().takePendingSnapshots());
        if (!lazy || !refcounts().deferring() || refcounts().tableChanged()) {
          dirtyRefcounts.add(refcounts().takeDirty());
        }
        dirtyTables = lookup.takeDirty();
        frees = refcounts().takePendingFrees();
        punches = new ArrayList<>(dataFilePunches);
        dataFilePunches.clear();
      } finally {
        metaLock.unlock();
      }
      try {
        writeInOrder(dirtyRefcounts, dirtyTables, lazy);
      } catch (IOException | RuntimeException e) {
        metaLock.lock();
        try {
          for (Refcounts.DirtyRefcounts dirty : dirtyRefcounts) {
            refcounts().restoreDirty(dirty);
          }
          lookup.restoreDirty(dirtyTables);
          refcounts().restorePendingFrees(frees);
          dataFilePunches.addAll(0, punches);
        } finally {
          metaLock.unlock();
        }
        throw e;
      }
      metaLock.lock();
      try {
        for (Refcounts.DirtyRefcounts dirty : dirtyRefcounts) {
          refcounts().written(dirty);
        }
        lookup.written(dirtyTables);
      } finally {
        metaLock.unlock();
      }
      if (!frees.isEmpty()) {
        releaseFrees(frees);
      }
      if (!punches.isEmpty()) {
        punchDataFile(punches);
      }
    } finally {
      flushLock.unlock();
    }
  }

  private void writeInOrder(List<Refcounts.DirtyRefcounts> refcountImages, ClusterLookup.DirtyTables dirtyTables,
      boolean lazy) throws IOException {
    // Whether everything written so far (guest data included) has passed a barrier.
    boolean settled = false;
    for (Refcounts.DirtyRefcounts dirtyRefcounts : refcountImages) {
      if (dirtyRefcounts.isEmpty()) {
        continue;
      }
      refcounts().writeBlocks(dirtyRefcounts);
      barrierUnless(lazy);
      refcounts().writeTable(dirtyRefcounts);
      if (dirtyRefcounts.tableMoved()) {
        barrier();
        storage.debugEvent("refblock_alloc_switch_table");
        image.updateRefcountTable(dirtyRefcounts.tableOffset(), dirtyRefcounts.tableClusters());
      }
      barrierUnless(lazy);
      settled = !lazy;
    }
    if (!dirtyTables.slices().isEmpty()) {
      if (!settled) {
        // Invariant 1 holds without refcount changes too: data written into a cluster (a reused
        // zero cluster, a fresh one under lazy refcounts) is durable before the entry that maps it,
        // or a crash would map the cluster's old bytes (or a range past the end of the file).
        barrier();
      }
      lookup.writeSlices(dirtyTables);
      barrier();
    }
    if (dirtyTables.l1() != null) {
      lookup.writeL1(dirtyTables, image.header().l1TableOffset());
      barrier();
    }
  }

  /**
   * Applies dropped references whose entries are durable, once no I/O that began before them is in
   * flight (such I/O may still target the clusters); clusters reaching zero are punched before the
   * allocator may hand them out again.
   */
  private void releaseFrees(List<long[]> frees) throws IOException {
    io.awaitEarlier();
    List<Long> emptied;
    metaLock.lock();
    try {
      emptied = image.guarded(() -> refcounts().release(frees));
      if (!emptied.isEmpty()) {
        // A freed cluster may be reused for anything: compressed bytes start afresh after it.
        clustersEmptied.run();
      }
    } finally {
      metaLock.unlock();
    }
    int index = 0;
    while (index < emptied.size()) {
      int end = index + 1;
      while (end < emptied.size() && emptied.get(end) == emptied.get(end - 1) + 1) {
        end++;
      }
      storage.punchHole(emptied.get(index) << clusterBits, (long) (end - index) << clusterBits);
      index = end;
    }
    metaLock.lock();
    try {
      refcounts().reusable(emptied);
    } finally {
      metaLock.unlock();
    }
  }

  /**
   * Gives back the space of external data file clusters whose dropping entries are durable, unless
   * the guest cluster got data again since (the data file maps guest offsets one to one).
   */
  private void punchDataFile(List<Long> clusterStarts) throws IOException {
    io.awaitEarlier();
    for (long clusterStart : clusterStarts) {
      long clusterIndex = clusterStart >>> clusterBits;
      metaLock.lock();
      try {
        reservations.await(clusterIndex);
        long entry = image.guarded(() -> lookup.entryWords(clusterStart))[0];
        if (L2Entry.hasHostCluster(entry, true)) {
          continue;
        }
        reservations.reserve(clusterIndex, 1);
      } catch (CorruptImageException e) {
        throw image.signalCorruption(e);
      } finally {
        metaLock.unlock();
      }
      try {
        dataStorage.punchHole(clusterStart, clusterSize);
      } finally {
        reservations.end(clusterIndex, 1);
      }
    }
  }

  /**
   * Flushes everything, the refcount blocks lazy refcounts defer too, with a barrier after: what a
   * repair writes before it may clear the dirty bit (QEMU's qcow2_mark_clean flushes every cache).
   */
  void flushAll() throws IOException {
    flush();
    flushLock.lock();
    try {
      metaLock.lock();
      try {
        refcounts().writeAll();
        barrier();
      } finally {
        metaLock.unlock();
      }
    } finally {
      flushLock.unlock();
    }
  }

  /**
   * A repair cleared the dirty bit after {@link #flushAll}: refcount updates stop being deferred,
   * and the next one that would be sets the bit again first.
   */
  void dirtyBitCleared() {
    metaLock.lock();
    try {
      dirtyBitSet = false;
      refcounts().deferUpdates(false);
    } finally {
      metaLock.unlock();
    }
  }

  /**
   * Closing (QEMU's bdrv_close, then qcow2_inactivate): a flush whose failure is ignored, then the
   * L2 side and the refcount side are each flushed with a barrier after, every failure reported as
   * QEMU reports it ({@link CloseFlushException}); the dirty bit of a lazy-refcounts image is
   * cleared when both succeeded. A barrier with nothing written since the last one that succeeded
   * costs nothing below (QEMU's flushed_gen), so a clean image closes without one failing.
   */
  void flushClean() throws IOException {
    try {
      flush();
    } catch (CorruptImageException e) {
      throw e;
    } catch (IOException e) {
      // bdrv_close's own flush: QEMU ignores its failure, the cache flushes below report theirs
    }
    CloseFlushException failure = null;
    boolean tablesDirty;
    metaLock.lock();
    try {
      tablesDirty = lookup.hasDirtyTables();
    } finally {
      metaLock.unlock();
    }
    try {
      flush();
      barrier();
    } catch (CorruptImageException e) {
      throw e;
    } catch (IOException e) {
      // QEMU's L2 cache flush checks only its dirty tables: with none, an overlap check that
      // cannot be made failed the refcount side here, which fails again (and is reported) below
      if (tablesDirty || !(e instanceof OverlapCheckFailedException)) {
        failure = CloseFlushException.add(failure, "Failed to flush the L2 table cache", e);
      }
    }
    flushLock.lock();
    try {
      metaLock.lock();
      try {
        try {
          refcounts().writeAll();
          barrier();
        } catch (CorruptImageException e) {
          throw e;
        } catch (IOException e) {
          failure = CloseFlushException.add(failure, "Failed to flush the refcount block cache", e);
        }
        if (failure != null) {
          throw failure;
        }
        if (dirtyBitSet) {
          image.changeIncompatibleFeatures(0, Features.INCOMPAT_DIRTY);
          storage.force(false);
          dirtyBitSet = false;
        }
        refcounts().deferUpdates(false);
      } finally {
        metaLock.unlock();
      }
    } finally {
      flushLock.unlock();
    }
  }

  private Refcounts refcounts() {
    return refcounts.get();
  }

  private void barrierUnless(boolean lazy) throws IOException {
    if (!lazy) {
      barrier();
    }
  }

  /** Makes everything written so far, to the image file and its data file, durable. */
  void barrier() throws IOException {
    if (dataStorage != storage) {
      dataStorage.force(false);
    }
    storage.force(false);
  }

  // ---------------------------------------------------------------- exclusive operations

  interface ExclusiveAction<T> {
    T run() throws IOException;
  }

  /**
   * Runs an operation that rewrites the tree wholesale (snapshots, amend, resize, check, header
   * rewrites) with all I/O drained and stopped and the metadata lock held; everything is flushed
   * before and after.
   */
  <T> T exclusive(ExclusiveAction<T> action) throws IOException {
    return exclusive(true, action);
  }

  /** Like {@link #exclusive(ExclusiveAction)}; {@code changes} false for an action that only reads (a check). */
  <T> T exclusive(boolean changes, ExclusiveAction<T> action) throws IOException {
    if (changes) {
      beforeFirstChange();
    }
    flush();
    flushLock.lock();
    try {
      io.closeGate();
      try {
        metaLock.lock();
        try {
          T result;
          try {
            result = action.run();
          } finally {
            if (changes) {
              // the operation may have freed clusters (a snapshot's, a repair's) outside releaseFrees
              clustersEmptied.run();
            }
          }
          flush();
          return result;
        } finally {
          metaLock.unlock();
        }
      } finally {
        io.openGate();
      }
    } finally {
      flushLock.unlock();
    }
  }
}
