package io.qcow4j.fuzz;

import java.lang.management.ClassLoadingMXBean;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
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
  private static final AtomicBoolean FIRST_RUN = new AtomicBoolean(true);
  /** The longest a run that keeps loading classes may take. */
  private static final Duration WARM_UP_CAP = Duration.ofMinutes(2);

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
    awaitWhileLoadingClasses(worker, timeLimit);
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
    // Loading and instrumenting classes (Jazzer's agent) allocates on this thread too: the first
    // run in this JVM and any run that loaded a class are not measured.
    boolean warm = !FIRST_RUN.getAndSet(false) && CLASSES.getTotalLoadedClassCount() == classesBefore;
    if (warm && allocated.get() > heapLimitBytes) {
      throw new AssertionError("the input allocated " + allocated.get() + " bytes of heap, more than the limit of "
          + heapLimitBytes);
    }
  }

  /**
   * Waits for {@code worker} up to {@code timeLimit}, and again each time it loaded classes in the
   * last wait (instrumenting them takes Jazzer seconds on a busy machine), up to {@link #WARM_UP_CAP}.
   */
  private static void awaitWhileLoadingClasses(Thread worker, Duration timeLimit) {
    long start = System.nanoTime();
    long loaded = CLASSES.getTotalLoadedClassCount();
    try {
      while (true) {
        worker.join(timeLimit);
        long nowLoaded = CLASSES.getTotalLoadedClassCount();
        if (!worker.isAlive() || nowLoaded == loaded || System.nanoTime() - start > WARM_UP_CAP.toNanos()) {
          return;
        }
        loaded = nowLoaded;
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted while waiting for the fuzz input", e);
    }
  }
}
