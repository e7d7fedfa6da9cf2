package io.qcow4j.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The L2 cache's rule for slices read from the file: one read before a slice write is never cached,
 * whatever happened to the written slice since (evicted or not), and a slice already cached wins.
 */
class L2CacheTest {
  private static final int SLICE_BYTES = 4096;

  @Test
  void aCopyReadBeforeASliceWriteIsNotCachedEvenAfterTheWrittenSliceWasEvicted() {
    L2Cache cache = new L2Cache(2L * SLICE_BYTES, SLICE_BYTES);
    long readGeneration = cache.generation();
    // a writer's slice, written by a flush and then evicted, between the reader's read and insert
    L2Cache.Slice written = new L2Cache.Slice(0x10000, new long[512]);
    cache.install(written);
    cache.advanceGeneration();
    cache.invalidate(0x10000);
    L2Cache.Slice stale = new L2Cache.Slice(0x10000, new long[512]);

    assertThat(cache.putIfCurrent(stale, readGeneration)).isSameAs(stale);
    assertThat(cache.get(0x10000)).as("the stale copy serves its reader only").isNull();
  }

  @Test
  void aCopyReadWithNoWriteSinceIsCachedAndACachedSliceWins() {
    L2Cache cache = new L2Cache(4L * SLICE_BYTES, SLICE_BYTES);
    L2Cache.Slice first = new L2Cache.Slice(0x20000, new long[512]);
    assertThat(cache.putIfCurrent(first, cache.generation())).isSameAs(first);
    assertThat(cache.get(0x20000)).isSameAs(first);

    L2Cache.Slice second = new L2Cache.Slice(0x20000, new long[512]);
    cache.advanceGeneration();
    assertThat(cache.putIfCurrent(second, cache.generation() - 1)).as("the cached slice, not a stale copy")
        .isSameAs(first);
    assertThat(cache.putIfCurrent(second, cache.generation())).isSameAs(first);
  }
}
