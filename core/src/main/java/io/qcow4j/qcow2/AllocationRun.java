package io.qcow4j.qcow2;

/**
 * Where one guest write puts its clusters, as QEMU 7.2's qcow2_alloc_host_offset gathers them
 * (block/qcow2-cluster.c): the clusters that need a new host cluster in a row (partial head and
 * tail clusters included) get one contiguous host run at once (handle_alloc), placed right after
 * the host range written just before when the request already wrote one and those clusters are
 * free (qcow2_alloc_clusters_at), else where the allocator finds a run of that length. The write
 * path hands the run out cluster by cluster as it writes them; the clusters it did not use (a
 * concurrent writer gave one a host cluster meanwhile) are given back at the end.
 */
final class AllocationRun {
  /** QEMU's QCOW_MAX_CRYPT_CLUSTERS: an encrypted image's write goes at most this many clusters at a time. */
  static final int MAX_CRYPT_CLUSTERS = 32;

  private final int clusterBits;
  private final long requestEnd;
  private final boolean encrypted;
  /** Where the host range written last in this pass ends, -1 when a new pass starts (QEMU's INV_OFFSET). */
  private long nextHost = -1;
  /** Where the current pass ends (QEMU's cur_bytes of one loop of qcow2_co_pwritev_part). */
  private long passEnd;
  private long firstCluster = -1;
  private int count;
  private long hostStart;
  private boolean[] taken;

  AllocationRun(int clusterBits, long position, long requestEnd, boolean encrypted) {
    this.clusterBits = clusterBits;
    this.requestEnd = requestEnd;
    this.encrypted = encrypted;
    newPass(position);
  }

  /** Starts a new pass of the write at {@code position}: nothing has to follow what was written before. */
  void newPass(long position) {
    nextHost = -1;
    long cap = encrypted
        ? ((long) MAX_CRYPT_CLUSTERS << clusterBits) - (position & ((1L << clusterBits) - 1))
        : Integer.MAX_VALUE;
    passEnd = Math.min(requestEnd, position + cap);
  }

  /** Called before each piece of the write at {@code position}: a pass that ended starts anew. */
  void at(long position) {
    if (position >= passEnd) {
      newPass(position);
    }
  }

  /** Where the current pass ends. */
  long passEnd() {
    return passEnd;
  }

  /** The host offset the next allocation should start at to continue the host range, or -1. */
  long nextHost() {
    return nextHost;
  }

  /**
   * Records that a piece went to host bytes ending at {@code hostEnd}: in-place pieces whose host
   * range does not follow the previous one start a new pass, as QEMU's handle_copied stops there.
   */
  void wrote(long position, long hostStart, long hostEnd) {
    if (nextHost != -1 && hostStart != nextHost) {
      newPass(position);
    }
    nextHost = hostEnd;
  }

  /** Takes a fresh run of {@code clusters} host clusters from {@code host} for guest clusters from {@code guestCluster}. */
  void allocated(long guestCluster, int clusters, long host) {
    firstCluster = guestCluster;
    count = clusters;
    hostStart = host;
    taken = new boolean[clusters];
  }

  /** Whether the run has a host cluster for guest cluster {@code guestCluster}, not handed out yet. */
  boolean has(long guestCluster) {
    return taken != null && guestCluster >= firstCluster && guestCluster < firstCluster + count
        && !taken[(int) (guestCluster - firstCluster)];
  }

  /** How many guest clusters from {@code guestCluster} on the run has host clusters for, not handed out yet. */
  int available(long guestCluster) {
    int available = 0;
    while (has(guestCluster + available)) {
      available++;
    }
    return available;
  }

  /** Hands out the host clusters of {@code clusters} guest clusters from {@code guestCluster} (all {@link #has}). */
  long take(long guestCluster, int clusters) {
    for (int index = 0; index < clusters; index++) {
      taken[(int) (guestCluster - firstCluster) + index] = true;
    }
    return hostStart + ((guestCluster - firstCluster) << clusterBits);
  }

  /** Whether the run covers guest clusters after {@code guestCluster}, so that a new one is not planned yet. */
  boolean covers(long guestCluster) {
    return taken != null && guestCluster >= firstCluster && guestCluster < firstCluster + count;
  }

  /** The host offsets of the clusters never handed out, which the caller gives back; the run is then empty. */
  long[] untaken() {
    if (taken == null) {
      return new long[0];
    }
    int untaken = 0;
    for (boolean was : taken) {
      untaken += was ? 0 : 1;
    }
    long[] hosts = new long[untaken];
    int next = 0;
    for (int index = 0; index < count; index++) {
      if (!taken[index]) {
        hosts[next++] = hostStart + ((long) index << clusterBits);
      }
    }
    taken = null;
    return hosts;
  }
}
