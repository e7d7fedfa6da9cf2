package io.qcow4j.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * qemu-io's aio requests once a blkdebug breakpoint is set: each runs on a thread of its own, so
 * that one suspended at a breakpoint (or waiting for one that is) leaves the command loop going,
 * as qemu-io's coroutines do. A command that starts or resumes requests returns once every request
 * is done or held (suspended, or waiting for another): qemu-io's coroutines run until they yield.
 * Without breakpoints, aio requests run in the command that makes them, as before. What a request
 * prints is held and printed once the requests are settled, request by request in the order they
 * were made, as qemu-io prints completions at its next poll (a request that another one woke thus
 * reports after it, as in qemu-io).
 */
final class QemuIoRequests {
  /** The output of the request running on this thread; null on the command loop's thread. */
  private static final ThreadLocal<StringBuilder> CAPTURE = new ThreadLocal<>();
  /** How long every request must look held before the command loop goes on. */
  private static final int SETTLED_POLLS = 3;

  private final List<Thread> running = new ArrayList<>();
  /** Every request not yet done and reported, in the order they were made, with its held output. */
  private final List<Request> reporting = new ArrayList<>();
  private final PrintWriter out;
  private boolean active;

  private record Request(Thread thread, StringBuilder output) {}

  /** Requests whose output goes, once settled, to {@code out}. */
  QemuIoRequests(PrintWriter out) {
    this.out = out;
  }

  /** {@code target}, except that what a request on a thread of its own writes is held for it. */
  static Writer routing(Writer target) {
    return new Writer() {
      @Override
      public void write(char[] chars, int offset, int length) throws IOException {
        StringBuilder held = CAPTURE.get();
        if (held == null) {
          target.write(chars, offset, length);
          return;
        }
        synchronized (held) {
          held.append(chars, offset, length);
        }
      }

      @Override
      public void flush() throws IOException {
        if (CAPTURE.get() == null) {
          target.flush();
        }
      }

      @Override
      public void close() throws IOException {
        target.close();
      }
    };
  }

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
    StringBuilder output = new StringBuilder();
    Thread thread = new Thread(() -> {
      CAPTURE.set(output);
      request.run();
    }, "qemu-io-aio");
    thread.setDaemon(true);
    running.add(thread);
    reporting.add(new Request(thread, output));
    thread.start();
    settle();
  }

  /** Prints what the requests printed so far, request by request in the order they were made. */
  private void report() {
    for (Request request : List.copyOf(reporting)) {
      String text;
      synchronized (request.output()) {
        text = request.output().toString();
        request.output().setLength(0);
      }
      out.print(text);
      if (!request.thread().isAlive()) {
        reporting.remove(request);
      }
    }
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
    report();
  }

  /**
   * qemu-io's wait_break: polls until {@code condition} holds; gives up once no request runs
   * that could make it hold (qemu-io would wait forever).
   */
  void awaitCondition(BooleanSupplier condition) {
    while (!condition.getAsBoolean()) {
      running.removeIf(thread -> !thread.isAlive());
      if (running.stream().allMatch(QemuIoRequests::held)) {
        break;
      }
      pause();
    }
    settle();
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
    report();
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
