package io.qcow4j.write;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.testing.FaultyStorage;
import io.qcow4j.testing.FaultyStorage.Tearing;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The crash-test storage itself: what survives a cut, and the refusal after power is lost. */
class FaultyStorageTest {

  private static ByteBuffer filled(int length, int value) {
    byte[] bytes = new byte[length];
    java.util.Arrays.fill(bytes, (byte) value);
    return ByteBuffer.wrap(bytes);
  }

  @Test
  void everythingBeforeTheLastBarrierSurvivesAndNothingAfterItWithKeepProbabilityZero() throws IOException {
    FaultyStorage storage = new FaultyStorage("disk");
    storage.write(filled(1024, 1), 0);
    storage.force(false);
    storage.write(filled(512, 2), 0);
    storage.truncate(4096);
    assertThat(storage.eventCount()).isEqualTo(4);

    FaultyStorage.Replay replay = storage.replay();
    assertThat(replay.survivorAt(0, new Random(1), 1.0, Tearing.NONE)).isEmpty();
    byte[] atBarrier = replay.survivorAt(2, new Random(1), 1.0, Tearing.NONE);
    assertThat(atBarrier).hasSize(1024).containsOnly(1);
    byte[] noneKept = replay.survivorAt(4, new Random(1), 0.0, Tearing.NONE);
    assertThat(noneKept).hasSize(1024).containsOnly(1);
    byte[] allKept = replay.survivorAt(4, new Random(1), 1.0, Tearing.NONE);
    assertThat(allKept).hasSize(4096);
    assertThat(allKept[0]).isEqualTo((byte) 2);
    assertThat(allKept[600]).isEqualTo((byte) 1);
    assertThat(storage.content()).isEqualTo(allKept);
  }

  @Test
  void tornWritesKeepWholeSectorsOnly() throws IOException {
    FaultyStorage storage = new FaultyStorage("disk", new byte[8192]);
    storage.write(filled(8192, 7), 0);
    byte[] survivor = storage.replay().survivorAt(1, new Random(3), 0.5, Tearing.SECTORS);
    int kept = 0;
    for (int sector = 0; sector < 16; sector++) {
      byte first = survivor[sector * 512];
      for (int index = 0; index < 512; index++) {
        assertThat(survivor[sector * 512 + index]).isEqualTo(first);
      }
      kept += first == 7 ? 1 : 0;
    }
    assertThat(kept).isBetween(1, 15);
  }

  @Test
  void powerLossRefusesLaterChangesAndHandlesShareTheFile() throws IOException {
    FaultyStorage storage = new FaultyStorage("disk");
    storage.write(filled(16, 1), 0);
    storage.failAt(1);
    assertThatThrownBy(() -> storage.write(filled(16, 2), 0)).isInstanceOf(IOException.class)
        .hasMessageContaining("power lost");
    assertThatThrownBy(() -> storage.force(true)).isInstanceOf(IOException.class);
    storage.close();
    FaultyStorage again = storage.reopen(true);
    ByteBuffer read = ByteBuffer.allocate(16);
    again.readFully(read, 0);
    assertThat(read.array()).containsOnly(1);
    assertThatThrownBy(() -> storage.size()).isInstanceOf(IOException.class);
  }
  @Test
  void aBarrierDoesNotCoverAChangeStillInFlight() throws Exception {
    FaultyStorage storage = new FaultyStorage("disk", new byte[1024]);
    java.util.concurrent.CountDownLatch inFlight = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
    Thread writer = new Thread(() -> {
      try {
        storage.write(filled(512, 9), 512);
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    storage.whileInFlight(() -> {
      if (Thread.currentThread() == writer) {
        inFlight.countDown();
        try {
          release.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    });
    writer.start();
    inFlight.await();
    storage.write(filled(512, 5), 0);
    storage.force(false);
    release.countDown();
    writer.join();
    storage.force(false);
    assertThat(storage.eventCount()).isEqualTo(4);

    FaultyStorage.Replay replay = storage.replay();
    // Cut after the first barrier: the write that returned before it is durable, the one in flight is not.
    assertThat(replay.changesSinceBarrier(3)).isEqualTo(1);
    byte[] lost = replay.survivorAt(3, index -> false);
    assertThat(java.util.Arrays.copyOfRange(lost, 0, 512)).containsOnly(5);
    assertThat(java.util.Arrays.copyOfRange(lost, 512, 1024)).containsOnly(0);
    byte[] kept = replay.survivorAt(3, index -> true);
    assertThat(java.util.Arrays.copyOfRange(kept, 512, 1024)).containsOnly(9);
    // After the second barrier it returned before, it is durable.
    assertThat(replay.changesSinceBarrier(4)).isZero();
    byte[] forced = replay.survivorAt(4, new Random(1), 0.0, Tearing.NONE);
    assertThat(java.util.Arrays.copyOfRange(forced, 512, 1024)).containsOnly(9);
  }

  @Test
  void concurrentChangesFormOneOrderThatMatchesTheContent() throws Exception {
    FaultyStorage storage = new FaultyStorage("disk", new byte[4096]);
    storage.whileInFlight(Thread::yield);
    int threads = 4;
    java.util.List<Thread> workers = new java.util.ArrayList<>();
    for (int thread = 0; thread < threads; thread++) {
      int value = thread + 1;
      Thread worker = new Thread(() -> {
        try {
          for (int round = 0; round < 200; round++) {
            storage.write(filled(4096, value), 0);
          }
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      });
      workers.add(worker);
      worker.start();
    }
    for (Thread worker : workers) {
      worker.join();
    }
    storage.force(false);
    // Replaying every change in the recorded order gives what the running program saw last.
    byte[] replayed = storage.replay().survivorAt(storage.eventCount(), new Random(1), 0.0, Tearing.NONE);
    assertThat(replayed).isEqualTo(storage.content());
  }
}
