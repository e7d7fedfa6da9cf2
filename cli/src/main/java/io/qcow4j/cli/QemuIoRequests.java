package io.qcow4j.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * qemu-io's aio requests once a blkdebug breakpoint is set: each runs on a thread of its own, so
 * that one suspended at a breakpoint (or waiting for one that is) leaves the command loop going,
 * as qemu-io's coroutines do. A command that starts or resumes requests returns once every request
 * is done or held (suspended, or waiting for another): qemu-io's coroutines run until they yield.
 * Without breakpoints, aio requests run in the command that makes them, as before.
 */
final class QemuIoRequests {
  /** How long every request must look held before the command loop goes on. */
  private static final int SETTLED_POLLS = 3;

  private final List<Thread> running = new ArrayList<>();
  private boolean active;

  /** Whether requests run on threads of their own (a breakpoint was set in this session). */
  boolean active() {
    return active;
  }

  /** From now on, aio requests run on threads of their own. */
  void activate() {
    active = true;
  }

  /** Starts {@code request} on its own thread and returns once it is done or held. */
  void submit(Runnable request) {
    Thread thread = new Thread(request, "qemu-io-aio");
    thread.setDaemon(true);
    running.add(thread);
    thread.start();
    settle();
  }

  /** Returns once every request is done or held: none is running any more. */
  void settle() {
    int quietPolls = 0;
    while (quietPolls < SETTLED_POLLS) {
      running.removeIf(thread -> !thread.isAlive());
      boolean quiet = running.stream().allMatch(QemuIoRequests::held);
      quietPolls = quiet ? quietPolls + 1 : 0;
      if (quietPolls < SETTLED_POLLS) {
        pause();
      }
    }
  }

  /**
   * qemu-io's wait_break: polls until {@code condition} holds; gives up once no request runs
   * that could make it hold (qemu-io would wait forever).
   */
  void awaitCondition(BooleanSupplier condition) {
    while (!condition.getAsBoolean()) {
      running.removeIf(thread -> !thread.isAlive());
      if (running.stream().allMatch(QemuIoRequests::held)) {
        settle();
        return;
      }
      pause();
    }
  }

  /** aio_flush and close: waits for every request to end. */
  void drain() {
    for (Thread thread : List.copyOf(running)) {
      boolean interrupted = false;
      while (thread.isAlive()) {
        try {
          thread.join();
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
    running.clear();
  }

  private static boolean held(Thread thread) {
    Thread.State state = thread.getState();
    // a timed wait too: the engine polls for earlier I/O to end with timed parks
    return state == Thread.State.WAITING || state == Thread.State.TIMED_WAITING || state == Thread.State.BLOCKED
        || state == Thread.State.TERMINATED;
  }

  private static void pause() {
    try {
      Thread.sleep(1);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
