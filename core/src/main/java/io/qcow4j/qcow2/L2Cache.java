package io.qcow4j.qcow2;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A byte-budgeted LRU cache of L2 table slices, keyed by their host offset. Lookups never block
 * each other; slices that wait to be written (dirty, or in a flush under way) are never evicted.
 */
final class L2Cache {
  private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);

  /**
   * One cached slice: the raw 64-bit words of its entries (two per entry with extended L2). Writers
   * (serialized by the metadata lock) change an entry under a sequence count, so that a lock-free
   * reader never pairs an entry with another state's subcluster bitmap.
   */
  static final class Slice {
    final long hostOffset;
    private final long[] words;
    /** Odd while a writer changes an entry. */
    private volatile int sequence;
    volatile long lastUse;
    /** Changed in memory and not yet handed to a flush. */
    volatile boolean dirty;
    /** Handed to a flush that has not written it yet. */
    volatile boolean flushing;

    Slice(long hostOffset, long[] words) {
      this.hostOffset = hostOffset;
      this.words = words;
    }

    int wordCount() {
      return words.length;
    }

    /** The word at {@code index}, for a reader that needs one word only. */
    long word(int index) {
      return (long) WORDS.getAcquire(words, index);
    }

    /** Reads the two words at {@code index} as one consistent pair into {@code pair}. */
    void readPair(int index, long[] pair) {
      while (true) {
        int before = sequence;
        if ((before & 1) == 0) {
          pair[0] = (long) WORDS.getOpaque(words, index);
          pair[1] = (long) WORDS.getOpaque(words, index + 1);
          VarHandle.acquireFence();
          if (sequence == before) {
            return;
          }
        }
        Thread.onSpinWait();
      }
    }

    /** Stores one entry (and its bitmap word when {@code pair}); caller holds the metadata lock. */
    void store(int index, long entry, long bitmap, boolean pair) {
      int before = sequence;
      sequence = before + 1;
      VarHandle.releaseFence();
      if (pair) {
        WORDS.setOpaque(words, index + 1, bitmap);
      }
      WORDS.setOpaque(words, index, entry);
      sequence = before + 2;
    }

    /** A copy of every word, consistent with all stores made so far (caller holds the metadata lock). */
    long[] copy() {
      return words.clone();
    }
  }

  private final ConcurrentHashMap<Long, Slice> slices = new ConcurrentHashMap<>();
  private final ReentrantLock evictionLock = new ReentrantLock();
  /** Counts writes of slices to the file, so that a concurrent read of the file can tell it raced one. */
  private final AtomicLong generation = new AtomicLong();
  private final AtomicLong clock = new AtomicLong();
  private final int capacity;

  L2Cache(long budgetBytes, int sliceBytes) {
    this.capacity = (int) Math.max(2, Math.min(Integer.MAX_VALUE, budgetBytes / sliceBytes));
  }

  /** The cached slice at {@code hostOffset}, or null. */
  Slice get(long hostOffset) {
    Slice slice = slices.get(hostOffset);
    if (slice != null) {
      touch(slice);
    }
    return slice;
  }

  private void touch(Slice slice) {
    long now = clock.get();
    if (slice.lastUse != now) {
      slice.lastUse = clock.incrementAndGet();
    }
  }

  /** The count of slice writes so far. */
  long generation() {
    return generation.get();
  }

  /** Records that a slice was written to the file (call after the write, before it may be evicted). */
  void advanceGeneration() {
    generation.incrementAndGet();
  }

  /**
   * Caches a slice read from the file, unless a slice was written since {@code readGeneration} (the
   * copy may then predate that write, whose slice may have been evicted since), and returns the
   * cached slice: the one another thread cached first, this one, or this one uncached. The test and
   * the insertion are one step under the map's lock for the key, which eviction also takes: a
   * slice evicted after its write had advanced the generation is never replaced by a copy read
   * before the write (checking first and inserting after left a window where it was).
   */
  Slice putIfCurrent(Slice loaded, long readGeneration) {
    Slice current = slices.compute(loaded.hostOffset,
        (offset, cached) -> cached != null ? cached : generation.get() == readGeneration ? loaded : null);
    if (current == null) {
      return loaded;
    }
    touch(current);
    if (current == loaded) {
      evictIfFull();
    }
    return current;
  }

  /** Drops the slice at {@code hostOffset} (its table was freed or rewritten elsewhere). */
  void invalidate(long hostOffset) {
    slices.remove(hostOffset);
  }

  /** Caches a slice made in memory (a new or copied table), replacing whatever was cached there. */
  void install(Slice slice) {
    touch(slice);
    slices.put(slice.hostOffset, slice);
    evictIfFull();
  }

  /**
   * Makes a slice that a writer just marked dirty the cached one again: an eviction that raced the
   * write either saw it dirty or is undone here, since both hold the map's lock for the key.
   */
  void reinstate(Slice slice) {
    slices.put(slice.hostOffset, slice);
  }

  /** How many slices the budget holds. */
  int capacity() {
    return capacity;
  }

  /** Drops every slice. */
  void clear() {
    slices.clear();
  }

  private void evictIfFull() {
    if (slices.size() <= capacity || !evictionLock.tryLock()) {
      return;
    }
    try {
      // Evict the least recently used clean slices down to 7/8 of the budget, so sweeps are rare.
      int target = capacity - Math.max(1, capacity / 8);
      List<Slice> clean = new ArrayList<>();
      for (Slice slice : slices.values()) {
        if (!slice.dirty && !slice.flushing) {
          clean.add(slice);
        }
      }
      clean.sort(Comparator.comparingLong(slice -> slice.lastUse));
      for (int index = 0; index < clean.size() && slices.size() > target; index++) {
        Slice victim = clean.get(index);
        // Decided under the map's lock for the key, which a writer's reinstate() also takes.
        slices.computeIfPresent(victim.hostOffset,
            (offset, cached) -> cached == victim && !victim.dirty && !victim.flushing ? null : cached);
      }
    } finally {
      evictionLock.unlock();
    }
  }
}
