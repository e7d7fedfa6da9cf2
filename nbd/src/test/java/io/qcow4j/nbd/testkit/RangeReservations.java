package io.qcow4j.nbd.testkit;

import java.util.HashSet;
import java.util.Set;

/**
 * The units (clusters, sectors) that requests in flight touch: a request waits until none of its
 * units is busy, so requests stay pipelined but two requests on one unit never race.
 */
public final class RangeReservations {
  private final int unit;
  private final Set<Long> busy = new HashSet<>();

  public RangeReservations(int unit) {
    this.unit = unit;
  }

  /** Waits until no unit of [offset, offset + length) is busy, then marks them all busy. */
  public synchronized void acquire(long offset, long length) throws InterruptedException {
    long first = offset / unit;
    long last = (offset + length - 1) / unit;
    while (anyBusy(first, last)) {
      wait();
    }
    for (long index = first; index <= last; index++) {
      busy.add(index);
    }
  }

  /** Frees the units of a request that {@link #acquire} marked. */
  public synchronized void release(long offset, long length) {
    long first = offset / unit;
    long last = (offset + length - 1) / unit;
    for (long index = first; index <= last; index++) {
      busy.remove(index);
    }
    notifyAll();
  }

  private boolean anyBusy(long first, long last) {
    for (long index = first; index <= last; index++) {
      if (busy.contains(index)) {
        return true;
      }
    }
    return false;
  }
}
