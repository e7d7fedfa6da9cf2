package io.qcow4j.internal.storage;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The guard's close waits for the calls inside, refuses later ones, and lets only one closer release. */
class DescriptorGuardTest {

  @Test
  void closeWaitsForTheCallInsideAndRefusesLaterOnes() throws Exception {
    DescriptorGuard guard = new DescriptorGuard();
    assertThat(guard.enter()).isTrue();
    CompletableFuture<Boolean> closing = CompletableFuture.supplyAsync(guard::close);
    while (!guard.isClosed()) {
      Thread.onSpinWait();
    }
    assertThat(guard.enter()).as("a call entering while close waits").isFalse();
    Thread.sleep(50);
    assertThat(closing).as("close while a call is inside").isNotDone();
    guard.leave();
    assertThat(closing.get(10, TimeUnit.SECONDS)).as("the first closer may release").isTrue();
    assertThat(guard.close()).as("a second closer may not release").isFalse();
    assertThat(guard.enter()).isFalse();
  }

  @Test
  void noCallIsInsideOnceCloseReturns() throws Exception {
    for (int round = 0; round < 200; round++) {
      DescriptorGuard guard = new DescriptorGuard();
      AtomicInteger inside = new AtomicInteger();
      AtomicBoolean released = new AtomicBoolean();
      AtomicInteger callsAfterRelease = new AtomicInteger();
      Thread[] callers = new Thread[4];
      for (int index = 0; index < callers.length; index++) {
        callers[index] = Thread.ofPlatform().start(() -> {
          while (guard.enter()) {
            inside.incrementAndGet();
            if (released.get()) {
              callsAfterRelease.incrementAndGet();
            }
            Thread.onSpinWait();
            inside.decrementAndGet();
            guard.leave();
          }
        });
      }
      Thread.sleep(1);
      assertThat(guard.close()).isTrue();
      released.set(true);
      assertThat(inside.get()).as("calls inside when close returned").isZero();
      for (Thread caller : callers) {
        caller.join();
      }
      assertThat(callsAfterRelease.get()).as("calls let in after close returned").isZero();
    }
  }
}
