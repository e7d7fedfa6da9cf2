package io.qcow4j.internal.storage;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Closing a FileStorage fences off its native calls: none reaches the descriptor after close returns. */
class FileStorageCloseTest {
  private static final int SIZE = 1 << 20;
  private static final int THREADS = 6;
  private static final int ROUNDS = 25;

  @TempDir Path dir;

  @Test
  void callsRacingCloseNeverReachAFileThatReusedTheDescriptor() throws Exception {
    int reusedRounds = 0;
    for (int round = 0; round < ROUNDS; round++) {
      Path closedPath = dir.resolve("closed-" + round);
      Path victimPath = dir.resolve("victim-" + round);
      FileStorage storage = FileStorage.create(closedPath, false);
      storage.write(ByteBuffer.wrap(filled(SIZE, (byte) 1)), 0);
      Set<Integer> closedDescriptors = descriptorsOf(closedPath);

      AtomicBoolean stop = new AtomicBoolean();
      CountDownLatch running = new CountDownLatch(THREADS);
      ConcurrentLinkedQueue<Throwable> wrongFailures = new ConcurrentLinkedQueue<>();
      List<Thread> threads = new ArrayList<>();
      for (int index = 0; index < THREADS; index++) {
        boolean punch = index % 2 == 0;
        threads.add(Thread.ofPlatform().start(() -> {
          running.countDown();
          while (!stop.get()) {
            try {
              if (punch) {
                storage.punchHole(0, SIZE);
              } else {
                storage.zeroRange(0, SIZE);
              }
            } catch (ClosedChannelException e) {
              if (e.getMessage() == null || !e.getMessage().contains(closedPath.toString())) {
                wrongFailures.add(e);
              }
            } catch (Throwable e) {
              wrongFailures.add(e);
            }
          }
        }));
      }
      running.await();
      Thread.sleep(2);
      storage.close();
      // The lowest free descriptor numbers are the ones just closed: the victim takes them.
      try (FileStorage victim = FileStorage.create(victimPath, false)) {
        victim.write(ByteBuffer.wrap(filled(SIZE, (byte) 0x5a)), 0);
        if (!Collections.disjoint(closedDescriptors, descriptorsOf(victimPath))) {
          reusedRounds++;
        }
        Thread.sleep(10);
        stop.set(true);
        for (Thread thread : threads) {
          thread.join();
        }
        ByteBuffer back = ByteBuffer.allocate(SIZE);
        victim.readFully(back, 0);
        assertThat(Arrays.mismatch(back.array(), filled(SIZE, (byte) 0x5a)))
            .as("round %d: the first byte of the victim file that changed (-1: none)", round).isEqualTo(-1);
      }
      assertThat(wrongFailures).as("failures other than a closed-storage error naming the file").isEmpty();
    }
    assertThat(reusedRounds).as("rounds in which the victim reused a closed descriptor number").isPositive();
  }

  @Test
  void everyCallAfterCloseFailsNamingTheFile() throws Exception {
    Path path = dir.resolve("file");
    FileStorage storage = FileStorage.create(path, false);
    storage.write(ByteBuffer.wrap(new byte[8192]), 0);
    storage.close();
    storage.close();
    List<IoCall> calls = List.of(
        () -> storage.punchHole(0, 4096),
        () -> storage.zeroRange(0, 4096),
        () -> storage.allocate(0, 4096),
        () -> storage.nextData(0),
        () -> storage.nextHole(0),
        () -> storage.size(),
        () -> storage.read(ByteBuffer.allocate(16), 0),
        () -> storage.write(ByteBuffer.allocate(16), 0),
        () -> storage.read(new ByteBuffer[] {ByteBuffer.allocate(16), ByteBuffer.allocateDirect(16)}, 0),
        () -> storage.write(new ByteBuffer[] {ByteBuffer.allocate(16), ByteBuffer.allocateDirect(16)}, 0),
        () -> storage.force(false));
    for (IoCall call : calls) {
      try {
        call.run();
        throw new AssertionError("a call on a closed storage succeeded");
      } catch (ClosedChannelException e) {
        assertThat(e).hasMessageContaining(path.toString()).hasMessageContaining("closed");
      }
    }
  }

  private interface IoCall {
    void run() throws IOException;
  }

  private static byte[] filled(int size, byte value) {
    byte[] bytes = new byte[size];
    Arrays.fill(bytes, value);
    return bytes;
  }

  /** The descriptor numbers this process holds open on {@code path}. */
  private static Set<Integer> descriptorsOf(Path path) throws IOException {
    Set<Integer> found = new HashSet<>();
    Path real = path.toRealPath();
    try (Stream<Path> links = Files.list(Path.of("/proc/self/fd"))) {
      for (Path link : links.toList()) {
        try {
          if (Files.readSymbolicLink(link).equals(real)) {
            found.add(Integer.parseInt(link.getFileName().toString()));
          }
        } catch (IOException e) {
          // Closed while listing (the listing's own descriptor): not ours.
        }
      }
    }
    return found;
  }
}
