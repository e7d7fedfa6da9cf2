package io.qcow4j.qcow2;

import java.util.Map;
import java.util.TreeMap;

/**
 * How many references each host cluster has, counted by a check: two bytes per cluster inside the
 * file (no per-cluster object), a small map for the rare counts too large for two bytes, and one
 * for references past its end, which only hostile or damaged images make. Counts are exact; the
 * check stops counting a cluster at its refcount width's maximum.
 */
final class ReferenceCounts {
  private static final int CHUNK_BITS = 20;
  private static final int CHUNK = 1 << CHUNK_BITS;
  /** A two-byte count that stands for "look in {@link #large}". */
  private static final char SPILLED = 0xffff;

  private final long clusters;
  private final char[][] chunks;
  private final TreeMap<Long, Long> beyond = new TreeMap<>();
  /** Counts of clusters inside the file that reached {@link #SPILLED}. */
  private final TreeMap<Long, Long> large = new TreeMap<>();

  ReferenceCounts(long clusters) {
    this.clusters = clusters;
    this.chunks = new char[(int) ((clusters + CHUNK - 1) >>> CHUNK_BITS)][];
  }

  long clusters() {
    return clusters;
  }

  void increment(long cluster) {
    if (cluster >= clusters) {
      beyond.merge(cluster, 1L, Long::sum);
      return;
    }
    int chunk = (int) (cluster >>> CHUNK_BITS);
    if (chunks[chunk] == null) {
      chunks[chunk] = new char[(int) Math.min(CHUNK, clusters - ((long) chunk << CHUNK_BITS))];
    }
    int index = (int) (cluster & (CHUNK - 1));
    char count = chunks[chunk][index];
    if (count == SPILLED) {
      large.merge(cluster, 1L, Long::sum);
    } else if (count == SPILLED - 1) {
      chunks[chunk][index] = SPILLED;
      large.put(cluster, (long) SPILLED);
    } else {
      chunks[chunk][index]++;
    }
  }

  long get(long cluster) {
    if (cluster >= clusters) {
      return beyond.getOrDefault(cluster, 0L);
    }
    char[] chunk = chunks[(int) (cluster >>> CHUNK_BITS)];
    char count = chunk == null ? 0 : chunk[(int) (cluster & (CHUNK - 1))];
    return count == SPILLED ? large.get(cluster) : count;
  }

  /** The referenced clusters that lie past the end of the file, with their counts. */
  java.util.NavigableMap<Long, Long> beyondEnd() {
    return beyond;
  }
}
