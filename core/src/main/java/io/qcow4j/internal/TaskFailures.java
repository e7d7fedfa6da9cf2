package io.qcow4j.internal;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;

/**
 * What a task run on another thread threw, thrown again on the thread that waits for it: an
 * I/O failure as itself (unwrapped from {@link UncheckedIOException}), a runtime exception or an
 * error as they are, anything else as an {@link InterruptedIOException} naming it.
 */
public final class TaskFailures {
  private TaskFailures() {}

  /** Throws {@code failure} as described above; returns when it is null. */
  public static void rethrow(Throwable failure) throws IOException {
    if (failure == null) {
      return;
    }
    if (failure instanceof IOException io) {
      throw io;
    }
    if (failure instanceof UncheckedIOException unchecked) {
      throw unchecked.getCause();
    }
    if (failure instanceof RuntimeException runtime) {
      throw runtime;
    }
    if (failure instanceof Error error) {
      throw error;
    }
    throw new InterruptedIOException(String.valueOf(failure));
  }
}
