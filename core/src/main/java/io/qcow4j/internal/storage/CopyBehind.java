package io.qcow4j.internal.storage;

import io.qcow4j.internal.TaskFailures;
import java.io.IOException;
import java.util.concurrent.Executor;

/**
 * Copies behind the writes of one thread: while a scope is open on a thread, a write that thread
 * makes to a {@link FileStorage} from a mapping of {@link FileStorage#mapForCopy} (a kernel copy,
 * copy_file_range) is handed to {@code executor} and returns at once, at most {@code limit} of
 * them in flight, so that the thread that decides where the bytes go (in guest order, for a
 * deterministic layout) does not also wait for each copy. Whatever else reaches a storage with
 * copies in flight (a read, another write, a flush, a close) waits for them first, so the file
 * never reads as without them; a failed copy fails the next call that waits (once), or {@link #close}.
 * Used by convert, whose target nobody reads meanwhile. Thread-safe.
 */
public final class CopyBehind implements AutoCloseable {
  private static final ThreadLocal<CopyBehind> CURRENT = new ThreadLocal<>();

  /** One copy, run on the executor. */
  interface Copy {
    void run() throws IOException;
  }

  private final Executor executor;
  private final int limit;
  private int pending;
  private Throwable failure;

  private CopyBehind(Executor executor, int limit) {
    this.executor = executor;
    this.limit = limit;
  }

  /**
   * Opens a scope on the calling thread: its kernel copies run on {@code executor}, at most
   * {@code limit} at once, until {@link #close}, which waits for them.
   */
  public static CopyBehind open(Executor executor, int limit) {
    if (limit < 1) {
      throw new IllegalArgumentException("at least one copy in flight: " + limit);
    }
    if (CURRENT.get() != null) {
      throw new IllegalStateException("a copy-behind scope is already open on this thread");
    }
    CopyBehind scope = new CopyBehind(executor, limit);
    CURRENT.set(scope);
    return scope;
  }

  /** The scope open on the calling thread, or null. */
  static CopyBehind current() {
    return CURRENT.get();
  }

  /** Hands {@code copy} to the executor, first waiting while {@code limit} are in flight; rethrows an earlier failure. */
  void submit(Copy copy) throws IOException {
    synchronized (this) {
      while (pending >= limit && failure == null) {
        waitUninterruptibly();
      }
      rethrow();
      pending++;
    }
    try {
      executor.execute(() -> {
        Throwable thrown = null;
        try {
          copy.run();
        } catch (Throwable e) {
          thrown = e;
        }
        done(thrown);
      });
    } catch (RuntimeException e) {
      done(e);
      throw e;
    }
  }

  private synchronized void done(Throwable thrown) {
    pending--;
    if (thrown != null && failure == null) {
      failure = thrown;
    }
    notifyAll();
  }

  /** Waits until no copy is in flight; throws the first failure of one not thrown yet. */
  public void drain() throws IOException {
    synchronized (this) {
      while (pending > 0) {
        waitUninterruptibly();
      }
      rethrow();
    }
  }

  /** Waits for the copies in flight and ends the scope on its thread. */
  @Override
  public void close() throws IOException {
    if (CURRENT.get() == this) {
      CURRENT.remove();
    }
    drain();
  }

  private void waitUninterruptibly() {
    boolean interrupted = false;
    while (true) {
      try {
        wait();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /** Throws the first failure of a copy, once: the call that gets it fails, and its caller stops. */
  private void rethrow() throws IOException {
    Throwable thrown = failure;
    if (thrown == null) {
      return;
    }
    failure = null;
    TaskFailures.rethrow(thrown);
  }
}
