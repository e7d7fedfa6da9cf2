package io.qcow4j.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import org.junit.jupiter.api.Test;

/** A task's failure thrown again on the waiting thread, each kind as the copier and compare expect. */
class TaskFailuresTest {
  @Test
  void nothingToThrow() {
    assertThatCode(() -> TaskFailures.rethrow(null)).doesNotThrowAnyException();
  }

  @Test
  void eachKindAsItself() {
    IOException io = new IOException("disk");
    assertThat(catchThrowable(() -> TaskFailures.rethrow(io))).isSameAs(io);
    assertThat(catchThrowable(() -> TaskFailures.rethrow(new UncheckedIOException(io)))).isSameAs(io);
    IllegalStateException runtime = new IllegalStateException("state");
    assertThat(catchThrowable(() -> TaskFailures.rethrow(runtime))).isSameAs(runtime);
    OutOfMemoryError error = new OutOfMemoryError("memory");
    assertThat(catchThrowable(() -> TaskFailures.rethrow(error))).isSameAs(error);
  }

  @Test
  void aCheckedExceptionOfAnotherKindIsNamed() {
    Throwable thrown = catchThrowable(() -> TaskFailures.rethrow(new Exception("other")));
    assertThat(thrown).isInstanceOf(InterruptedIOException.class).hasMessageContaining("other");
  }
}
