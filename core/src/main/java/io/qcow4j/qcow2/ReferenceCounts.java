package io.qcow4j.qcow2;

import java.util.Map;
import java.util.TreeMap;

/**
 * How many references each host cluster has, counted by a check: two bytes per cluster inside the
 * file (no per-cluster object), and a small map for references past its end, which only hostile
 * or damaged images make.
 */
final class ReferenceCounts {
  private static final int CHUNK_BITS = 20;
  private static final int CHUNK = 1 << CHUNK_BITS;
  private static final int MAX = 0xffff;

  private final long clusters;
  private final char[][] chunks;
  private final TreeMap<Long, Long> beyond = new TreeMap<>();

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
    if (chunks[chunk][index] < MAX) {
      chunks[chunk][index]++;
    }
  }

  long get(long cluster) {
    if (cluster >= clusters) {
      return beyond.getOrDefault(cluster, 0L);
    }
    char[] chunk = chunks[(int) (cluster >>> CHUNK_BITS)];
    return chunk == null ? 0 : chunk[(int) (cluster & (CHUNK - 1))];
  }

  /** The referenced clusters that lie past the end of the file, with their counts. */
  Map<Long, Long> beyondEnd() {
    return beyond;
  }
}
