package io.qcow4j.qcow2;

import java.util.Iterator;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A byte-budgeted cache of L2 table slices, keyed by their host offset. Lookups never block each
 * other; when the cache is over budget, a clock sweep evicts slices not used since the last sweep.
 */
final class L2Cache {
  /** One cached slice: the raw 64-bit words of its entries (two per entry with extended L2). */
  static final class Slice {
    final long hostOffset;
    final long[] words;
    volatile boolean referenced = true;
    /** Changed in memory and not yet written; a dirty slice is never evicted. */
    volatile boolean dirty;

    Slice(long hostOffset, long[] words) {
      this.hostOffset = hostOffset;
      this.words = words;
    }
  }

  private final ConcurrentHashMap<Long, Slice> slices = new ConcurrentHashMap<>();
  private final ReentrantLock evictionLock = new ReentrantLock();
  /** Counts writes of slices to the file, so that a concurrent read of the file can tell it raced one. */
  private final java.util.concurrent.atomic.AtomicLong generation = new java.util.concurrent.atomic.AtomicLong();
  private final int capacity;

  L2Cache(long budgetBytes, int sliceBytes) {
    this.capacity = (int) Math.max(2, Math.min(Integer.MAX_VALUE, budgetBytes / sliceBytes));
  }

  /** The cached slice at {@code hostOffset}, or null. */
  Slice get(long hostOffset) {
    Slice slice = slices.get(hostOffset);
    if (slice != null) {
      slice.referenced = true;
    }
    return slice;
  }

  /** The count of slice writes so far. */
  long generation() {
    return generation.get();
  }

  /** Records that a slice was written to the file (call after the write, before it may be evicted). */
  void advanceGeneration() {
    generation.incrementAndGet();
  }

  /** Caches a freshly read slice, or returns the one another thread cached first. */
  Slice put(Slice slice) {
    Slice existing = slices.putIfAbsent(slice.hostOffset, slice);
    if (existing != null) {
      existing.referenced = true;
      return existing;
    }
    if (slices.size() > capacity) {
      evict();
    }
    return slice;
  }

  /** Drops the slice at {@code hostOffset} (its table was freed or rewritten elsewhere). */
  void invalidate(long hostOffset) {
    slices.remove(hostOffset);
  }

  /** Caches a slice made in memory (a new or copied table), replacing whatever was cached there. */
  void install(Slice slice) {
    slices.put(slice.hostOffset, slice);
    if (slices.size() > capacity) {
      evict();
    }
  }

  /** How many slices the budget holds. */
  int capacity() {
    return capacity;
  }

  /** Drops every slice. */
  void clear() {
    slices.clear();
  }

  private void evict() {
    if (!evictionLock.tryLock()) {
      return;
    }
    try {
      Iterator<Slice> sweep = slices.values().iterator();
      int dirtySeen = 0;
      while (slices.size() > capacity) {
        if (!sweep.hasNext()) {
          sweep = slices.values().iterator();
          if (!sweep.hasNext()) {
            return;
          }
        }
        Slice candidate = sweep.next();
        if (candidate.dirty) {
          if (++dirtySeen > slices.size()) {
            return;
          }
          continue;
        }
        if (candidate.referenced) {
          candidate.referenced = false;
        } else {
          sweep.remove();
        }
      }
    } finally {
      evictionLock.unlock();
    }
  }
}
