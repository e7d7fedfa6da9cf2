package io.qcow4j.fuzz;

import java.lang.management.ClassLoadingMXBean;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs one fuzz input on its own thread and turns a hang (longer than the time limit) or a large
 * heap appetite (more bytes allocated than the limit) into an AssertionError carrying what the
 * thread was doing; an exception the input threw is rethrown as it is.
 */
final class BoundedRun {
  private static final com.sun.management.ThreadMXBean THREADS =
      (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
  private static final ClassLoadingMXBean CLASSES = ManagementFactory.getClassLoadingMXBean();

  private BoundedRun() {}

  /** Runs {@code body}, failing if it takes longer than {@code timeLimit} or allocates more than {@code heapLimitBytes}. */
  static void run(Runnable body, Duration timeLimit, long heapLimitBytes) {
    AtomicReference<Throwable> thrown = new AtomicReference<>();
    AtomicLong allocated = new AtomicLong();
    long classesBefore = CLASSES.getTotalLoadedClassCount();
    Thread worker = Thread.ofPlatform().daemon().name("fuzz-input").unstarted(() -> {
      long before = THREADS.getCurrentThreadAllocatedBytes();
      try {
        body.run();
      } catch (Throwable t) {
        thrown.set(t);
      } finally {
        allocated.set(THREADS.getCurrentThreadAllocatedBytes() - before);
      }
    });
    worker.start();
    try {
      worker.join(timeLimit);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted while waiting for the fuzz input", e);
    }
    if (worker.isAlive()) {
      AssertionError hang = new AssertionError("the input did not finish within " + timeLimit
          + " (a hang); the stack trace is where the engine was then");
      hang.setStackTrace(worker.getStackTrace());
      // The thread cannot be stopped; it is a daemon, so it does not keep the JVM alive.
      throw hang;
    }
    if (thrown.get() instanceof Error error) {
      throw error;
    }
    if (thrown.get() instanceof RuntimeException exception) {
      throw exception;
    }
    if (System.getProperty("qcow4j.fuzz.printAllocation") != null) {
      System.err.println("fuzz input allocated " + allocated.get() + " bytes");
    }
    // Loading (and instrumenting) classes allocates on this thread too; only warm runs are measured.
    boolean warm = CLASSES.getTotalLoadedClassCount() == classesBefore;
    if (warm && allocated.get() > heapLimitBytes) {
      throw new AssertionError("the input allocated " + allocated.get() + " bytes of heap, more than the limit of "
          + heapLimitBytes);
    }
  }
}
