package io.qcow4j.internal.storage;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Fences the calls made on a native file descriptor off from its close: {@link #close} refuses new
 * calls and returns only once every call already inside has left, so the descriptor number can be
 * released (and reused by the kernel for another file) without a late call landing on it.
 */
final class DescriptorGuard {
  private static final int CLOSED = 1 << 30;

  /** The {@link #CLOSED} bit and the number of calls inside. */
  private final AtomicInteger state = new AtomicInteger();

  /** Enters a call; false once closing has begun (the caller must then not touch the descriptor). */
  boolean enter() {
    while (true) {
      int current = state.get();
      if ((current & CLOSED) != 0) {
        return false;
      }
      if (state.compareAndSet(current, current + 1)) {
        return true;
      }
    }
  }

  /** Leaves a call that {@link #enter} let in. */
  void leave() {
    if (state.decrementAndGet() == CLOSED) {
      synchronized (this) {
        notifyAll();
      }
    }
  }

  /**
   * Refuses new calls and waits, without giving up on interrupts, until the calls inside have left.
   * True only for the first caller, who alone may then release the descriptor.
   */
  boolean close() {
    int before = state.getAndUpdate(current -> current | CLOSED);
    boolean interrupted = false;
    synchronized (this) {
      while (state.get() != CLOSED) {
        try {
          wait();
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    return (before & CLOSED) == 0;
  }

  /** Whether closing has begun. */
  boolean isClosed() {
    return (state.get() & CLOSED) != 0;
  }
}
