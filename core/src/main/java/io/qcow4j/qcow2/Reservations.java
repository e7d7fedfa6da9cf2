package io.qcow4j.qcow2;

import java.io.IOException;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Reserves the guest clusters whose mapping change is in flight without the metadata lock, so that
 * every other mapping change of such a cluster waits until the reservation ends.
 */
final class Reservations {
  /** A step run before the first reservation lands (the write path clears the autoclear bits there). */
  interface BeforeReserve {
    void run() throws IOException;
  }

  private final ReentrantLock metaLock;
  private final BeforeReserve beforeReserve;
  /** Guest clusters whose mapping change is in flight without the metadata lock; guarded by it. */
  private final Set<Long> reserved = new HashSet<>();
  private final Condition reservationEnded;

  Reservations(ReentrantLock metaLock, BeforeReserve beforeReserve) {
    this.metaLock = metaLock;
    this.beforeReserve = beforeReserve;
    this.reservationEnded = metaLock.newCondition();
  }

  /** Waits (releasing the metadata lock) until no mapping change of the cluster is in flight. */
  void await(long clusterIndex) {
    while (reserved.contains(clusterIndex)) {
      reservationEnded.awaitUninterruptibly();
    }
  }

  /** Whether a mapping change of the cluster is in flight; caller holds the lock. */
  boolean isReserved(long clusterIndex) {
    return reserved.contains(clusterIndex);
  }

  /** Reserves clusters for a mapping change that passed its checks; caller holds the lock. */
  void reserve(long firstCluster, int count) throws IOException {
    beforeReserve.run();
    for (long cluster = firstCluster; cluster < firstCluster + count; cluster++) {
      reserved.add(cluster);
    }
  }

  /** Ends a reservation and wakes those waiting for it; takes the lock (the caller may hold it already). */
  void end(long firstCluster, int count) {
    metaLock.lock();
    try {
      for (long cluster = firstCluster; cluster < firstCluster + count; cluster++) {
        reserved.remove(cluster);
      }
      reservationEnded.signalAll();
    } finally {
      metaLock.unlock();
    }
  }
}
