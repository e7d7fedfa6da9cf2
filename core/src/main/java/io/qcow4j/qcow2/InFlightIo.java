package io.qcow4j.qcow2;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Tracks I/O in flight on an image's host clusters without any lock on the I/O path: each read or
 * write enters an epoch before it looks up where to go and leaves it when the I/O is done.
 *
 * <p>Two waits build on it. {@link #awaitEarlier()} returns once every I/O that entered before the
 * call has left, while new I/O goes on: a cluster freed before the call can then be reused, since no
 * I/O that could still target it remains. {@link #closeGate()} stops new I/O and drains all of it,
 * for the rare operations (snapshots, amend, resize, check) that rewrite the tree wholesale.
 */
final class InFlightIo {
  private static final long OWNER = -1;
  private final AtomicLong epoch = new AtomicLong();
  private final LongAdder[] active = {new LongAdder(), new LongAdder()};
  private volatile boolean gateClosed;
  /** The thread that closed the gate: its own I/O (an exclusive operation reading the image) passes. */
  private volatile Thread gateOwner;
  private final ReentrantLock gateLock = new ReentrantLock();
  private final Condition gateOpened = gateLock.newCondition();
  private final ReentrantLock epochLock = new ReentrantLock();

  /** Enters an epoch before an I/O (waiting while the gate is closed); pass the result to {@link #exit}. */
  long enter() {
    if (gateOwner == Thread.currentThread()) {
      return OWNER;
    }
    while (true) {
      long current = epoch.get();
      LongAdder counter = active[(int) (current & 1)];
      counter.increment();
      // Counted first, then the checks: a closer or an epoch switch either sees this count or is seen here.
      if (!gateClosed && epoch.get() == current) {
        return current;
      }
      counter.decrement();
      if (gateClosed) {
        awaitGateOpen();
      }
    }
  }

  /** Leaves the epoch {@link #enter} returned. */
  void exit(long entered) {
    if (entered == OWNER) {
      return;
    }
    active[(int) (entered & 1)].decrement();
  }

  /**
   * Returns once every I/O that entered before this call has left. Must not be called by a thread
   * that is itself inside an epoch.
   */
  void awaitEarlier() {
    epochLock.lock();
    try {
      long current = epoch.get();
      // The other counter holds only stragglers of the epoch before (they back out at once).
      awaitZero(active[(int) ((current + 1) & 1)]);
      epoch.set(current + 1);
      awaitZero(active[(int) (current & 1)]);
    } finally {
      epochLock.unlock();
    }
  }

  /** Stops new I/O and waits until none is in flight; the caller must {@link #openGate()} after. */
  void closeGate() {
    gateLock.lock();
    try {
      gateClosed = true;
      gateOwner = Thread.currentThread();
    } finally {
      gateLock.unlock();
    }
    awaitZero(active[0]);
    awaitZero(active[1]);
  }

  /** Lets I/O go on after {@link #closeGate()}. */
  void openGate() {
    gateLock.lock();
    try {
      gateClosed = false;
      gateOwner = null;
      gateOpened.signalAll();
    } finally {
      gateLock.unlock();
    }
  }

  private void awaitGateOpen() {
    gateLock.lock();
    try {
      while (gateClosed) {
        gateOpened.awaitUninterruptibly();
      }
    } finally {
      gateLock.unlock();
    }
  }

  private static void awaitZero(LongAdder counter) {
    long pauseNanos = 1_000;
    while (counter.sum() != 0) {
      LockSupport.parkNanos(pauseNanos);
      pauseNanos = Math.min(pauseNanos * 2, TimeUnit.MILLISECONDS.toNanos(1));
    }
  }
}
