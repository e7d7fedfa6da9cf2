package io.qcow4j.internal.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ReadOnlyBufferException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Vectored reads and writes of FileStorage (preadv/pwritev) against the same file read plainly. */
class FileStorageVectoredTest {
  @TempDir Path dir;

  @Test
  void writesMixedBuffersAsOneContiguousRange() throws IOException {
    Random random = new Random(1);
    try (FileStorage storage = FileStorage.create(dir.resolve("file"), false)) {
      ByteBuffer[] srcs = {
          heap(random, 4096), direct(random, 100), ByteBuffer.allocate(0), heap(random, 1), direct(random, 65536)};
      byte[] expected = concat(srcs);
      storage.write(srcs, 12345);
      for (ByteBuffer src : srcs) {
        assertThat(src.hasRemaining()).as("a source left with bytes").isFalse();
      }
      byte[] file = Files.readAllBytes(dir.resolve("file"));
      assertThat(file).hasSize(12345 + expected.length);
      assertThat(java.util.Arrays.copyOfRange(file, 12345, file.length)).isEqualTo(expected);
      assertThat(java.util.Arrays.copyOfRange(file, 0, 12345)).containsOnly(0);
    }
  }

  @Test
  void readsIntoMixedBuffersAndStopsAtTheEnd() throws IOException {
    Random random = new Random(2);
    byte[] content = new byte[70000];
    random.nextBytes(content);
    Files.write(dir.resolve("file"), content);
    try (FileStorage storage = FileStorage.open(dir.resolve("file"), true)) {
      ByteBuffer[] dsts = {ByteBuffer.allocate(3000), ByteBuffer.allocateDirect(5000), ByteBuffer.allocate(0),
          ByteBuffer.allocate(60000), ByteBuffer.allocateDirect(10000)};
      long count = storage.read(dsts, 1000);
      assertThat(count).isEqualTo(69000);
      assertThat(dsts[3].hasRemaining()).isFalse();
      assertThat(dsts[4].position()).isEqualTo(1000);
      assertThat(drained(dsts)).isEqualTo(java.util.Arrays.copyOfRange(content, 1000, 70000));
      assertThat(storage.read(new ByteBuffer[] {ByteBuffer.allocate(1)}, 70000)).isEqualTo(-1);
      assertThat(storage.read(new ByteBuffer[] {ByteBuffer.allocate(0)}, 70000)).isZero();
    }
  }

  @Test
  void aThousandBuffersGoOutAsOneSystemCallEachWay() throws IOException {
    Random random = new Random(5);
    ByteBuffer[] srcs = new ByteBuffer[1000];
    ByteBuffer[] dsts = new ByteBuffer[1000];
    for (int index = 0; index < srcs.length; index++) {
      srcs[index] = index % 2 == 0 ? heap(random, 16) : direct(random, 16);
      dsts[index] = index % 2 == 0 ? ByteBuffer.allocate(16) : ByteBuffer.allocateDirect(16);
    }
    try (FileStorage storage = FileStorage.create(dir.resolve("file"), false)) {
      long writesBefore = systemCalls("syscw");
      storage.write(srcs, 0);
      long writes = systemCalls("syscw") - writesBefore;
      long readsBefore = systemCalls("syscr");
      storage.read(dsts, 0);
      long reads = systemCalls("syscr") - readsBefore;
      // The process's other threads may make a few calls meanwhile; a loop would make 1000.
      assertThat(writes).as("write system calls of the process during the vectored write").isLessThan(50);
      assertThat(reads).as("read system calls of the process during the vectored read").isLessThan(50);
      assertThat(drained(dsts)).isEqualTo(concat(java.util.Arrays.stream(srcs).map(ByteBuffer::flip).toArray(ByteBuffer[]::new)));
    }
  }

  /** A counter of /proc/self/io: syscr or syscw, the read or write system calls of this process. */
  private static long systemCalls(String counter) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/io"))) {
      if (line.startsWith(counter + ":")) {
        return Long.parseLong(line.substring(counter.length() + 1).trim());
      }
    }
    throw new IOException("no " + counter + " in /proc/self/io");
  }

  @Test
  void moreBuffersThanOneCallTakesGoOutInBatches() throws IOException {
    int buffers = VectoredTransfer.IOV_MAX * 2 + 17;
    Random random = new Random(3);
    try (FileStorage storage = FileStorage.create(dir.resolve("file"), false)) {
      ByteBuffer[] srcs = new ByteBuffer[buffers];
      for (int index = 0; index < buffers; index++) {
        srcs[index] = index % 3 == 0 ? direct(random, 1 + index % 700) : heap(random, 1 + index % 500);
      }
      byte[] expected = concat(srcs);
      storage.write(srcs, 7);
      ByteBuffer[] dsts = new ByteBuffer[buffers];
      for (int index = 0; index < buffers; index++) {
        int length = srcs[index].capacity();
        dsts[index] = index % 2 == 0 ? ByteBuffer.allocateDirect(length) : ByteBuffer.allocate(length);
      }
      assertThat(storage.read(dsts, 7)).isEqualTo(expected.length);
      assertThat(drained(dsts)).isEqualTo(expected);
    }
  }

  @Test
  void aHeapBufferLargerThanTheBounceLimitIsSplitAcrossCalls() throws IOException {
    int size = (int) VectoredTransfer.BOUNCE_LIMIT * 2 + 4097;
    Random random = new Random(4);
    try (FileStorage storage = FileStorage.create(dir.resolve("file"), false)) {
      ByteBuffer src = heap(random, size);
      byte[] expected = src.array().clone();
      storage.write(new ByteBuffer[] {src}, 0);
      ByteBuffer dst = ByteBuffer.allocate(size);
      storage.readFully(new ByteBuffer[] {dst}, 0);
      assertThat(java.util.Arrays.mismatch(dst.array(), expected)).isEqualTo(-1);
    }
  }

  @Test
  void readFullyPastTheEndAndReadOrZero() throws IOException {
    Files.write(dir.resolve("file"), new byte[] {1, 2, 3, 4, 5});
    try (FileStorage storage = FileStorage.open(dir.resolve("file"), true)) {
      assertThatThrownBy(() -> storage.readFully(new ByteBuffer[] {ByteBuffer.allocate(4), ByteBuffer.allocate(4)}, 0))
          .isInstanceOf(EOFException.class).hasMessageContaining(dir.resolve("file").toString());
      ByteBuffer first = ByteBuffer.allocate(3);
      ByteBuffer second = ByteBuffer.allocateDirect(4);
      storage.readOrZero(new ByteBuffer[] {first, second}, 1);
      assertThat(first.array()).containsExactly(2, 3, 4);
      assertThat(drained(new ByteBuffer[] {second})).containsExactly(5, 0, 0, 0);
    }
  }

  @Test
  void refusesWhatFileChannelRefuses() throws IOException {
    Files.write(dir.resolve("file"), new byte[16]);
    try (FileStorage storage = FileStorage.open(dir.resolve("file"), true)) {
      assertThatThrownBy(() -> storage.write(new ByteBuffer[] {ByteBuffer.allocate(1)}, 0))
          .isInstanceOf(IOException.class).hasMessageContaining("read-only");
      assertThatThrownBy(() -> storage.read(new ByteBuffer[] {ByteBuffer.allocate(1).asReadOnlyBuffer()}, 0))
          .isInstanceOf(ReadOnlyBufferException.class);
      assertThatThrownBy(() -> storage.read(new ByteBuffer[] {ByteBuffer.allocate(1)}, -1))
          .isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void concurrentVectoredWritersOfDisjointRangesLoseNothing() throws Exception {
    int writers = 4;
    int blocks = 64;
    try (FileStorage storage = FileStorage.create(dir.resolve("file"), false)) {
      List<Thread> threads = new ArrayList<>();
      for (int writer = 0; writer < writers; writer++) {
        int id = writer;
        threads.add(Thread.ofPlatform().start(() -> {
          for (int block = id; block < blocks; block += writers) {
            ByteBuffer head = ByteBuffer.allocate(1000);
            ByteBuffer tail = ByteBuffer.allocateDirect(3096);
            fill(head, (byte) block);
            fill(tail, (byte) block);
            try {
              storage.write(new ByteBuffer[] {head, tail}, block * 4096L);
            } catch (IOException e) {
              throw new java.io.UncheckedIOException(e);
            }
          }
        }));
      }
      for (Thread thread : threads) {
        thread.join();
      }
      byte[] file = Files.readAllBytes(dir.resolve("file"));
      for (int block = 0; block < blocks; block++) {
        for (int at = block * 4096; at < (block + 1) * 4096; at++) {
          assertThat(file[at]).as("byte %d", at).isEqualTo((byte) block);
        }
      }
    }
  }

  private static void fill(ByteBuffer buffer, byte value) {
    while (buffer.hasRemaining()) {
      buffer.put(value);
    }
    buffer.flip();
  }

  private static ByteBuffer heap(Random random, int size) {
    byte[] bytes = new byte[size];
    random.nextBytes(bytes);
    return ByteBuffer.wrap(bytes);
  }

  private static ByteBuffer direct(Random random, int size) {
    ByteBuffer buffer = ByteBuffer.allocateDirect(size);
    buffer.put(heap(random, size)).flip();
    return buffer;
  }

  /** The bytes of every buffer from 0 to its position, in order. */
  private static byte[] drained(ByteBuffer[] buffers) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    for (ByteBuffer buffer : buffers) {
      ByteBuffer done = buffer.duplicate().flip();
      byte[] bytes = new byte[done.remaining()];
      done.get(bytes);
      out.writeBytes(bytes);
    }
    return out.toByteArray();
  }

  /** The remaining bytes of every buffer, in order, without moving them. */
  private static byte[] concat(ByteBuffer[] buffers) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    for (ByteBuffer buffer : buffers) {
      byte[] bytes = new byte[buffer.remaining()];
      buffer.duplicate().get(bytes);
      out.writeBytes(bytes);
    }
    return out.toByteArray();
  }
}
