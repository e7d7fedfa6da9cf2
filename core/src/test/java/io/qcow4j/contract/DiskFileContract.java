package io.qcow4j.contract;

import io.qcow4j.testing.Discards;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.DiskChannel;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The behaviour every {@link DiskFile} promises, whatever its format: each implementation's test
 * extends this class and says how to make a writable disk of a given size.
 */
abstract class DiskFileContract {
  static final int SIZE = 4 << 20;

  @TempDir Path dir;
  DiskFile disk;
  byte[] model;

  /** A new, writable disk of {@code size} bytes that reads as zeros. */
  abstract DiskFile create(Path directory, long size) throws IOException;

  /**
   * Whether space the disk gains (a resize) reads as zeros: not on an encrypted format whose
   * unwritten payload decrypts to noise, as QEMU's raw LUKS.
   */
  boolean growsWithZeros() {
    return true;
  }

  @BeforeEach
  void open() throws IOException {
    disk = create(dir, SIZE);
    model = new byte[SIZE];
  }

  @AfterEach
  void close() throws IOException {
    disk.close();
  }

  @Test
  void startsAsZeros() throws IOException {
    assertThat(disk.size()).isEqualTo(SIZE);
    assertThat(readAll()).isEqualTo(model);
  }

  @Test
  void positionalWritesReadBackIntoHeapAndDirectBuffers() throws IOException {
    Random random = new Random(42);
    for (int round = 0; round < 40; round++) {
      int offset = random.nextInt(SIZE - 1);
      int length = 1 + random.nextInt(Math.min(SIZE - offset, 200_000));
      byte[] data = new byte[length];
      random.nextBytes(data);
      ByteBuffer source = round % 2 == 0 ? ByteBuffer.wrap(data) : ByteBuffer.allocateDirect(length).put(data).flip();
      assertThat(disk.write(source, offset)).isEqualTo(length);
      assertThat(source.hasRemaining()).isFalse();
      System.arraycopy(data, 0, model, offset, length);
    }
    assertThat(readAll()).isEqualTo(model);
    ByteBuffer direct = ByteBuffer.allocateDirect(SIZE);
    disk.readFully(direct, 0);
    byte[] back = new byte[SIZE];
    direct.flip().get(back);
    assertThat(back).isEqualTo(model);
  }

  @Test
  void readsAtTheEndAreShortThenMinusOne() throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(100);
    assertThat(disk.read(buffer, SIZE - 40)).isEqualTo(40);
    assertThat(buffer.position()).isEqualTo(40);
    assertThat(disk.read(ByteBuffer.allocate(10), SIZE)).isEqualTo(-1);
    assertThatThrownBy(() -> disk.readFully(ByteBuffer.allocate(10), SIZE - 5)).isInstanceOf(EOFException.class);
  }

  @Test
  void writesPastTheEndFailAndWriteNothing() throws IOException {
    assertThatThrownBy(() -> disk.write(ByteBuffer.allocate(10), SIZE - 5))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("outside the disk");
    assertThat(disk.size()).isEqualTo(SIZE);
    assertThat(readAll()).isEqualTo(model);
  }

  @Test
  void badRangesAndNullsAreIllegalArgumentsAndChangeNothing() throws IOException {
    disk.writeFully(ByteBuffer.wrap(new byte[] {7, 7, 7}), 4096);
    writeModel(4096, new byte[] {7, 7, 7});
    long[][] ranges = {{-1, 1}, {0, -1}, {Long.MAX_VALUE, 1}, {1, Long.MAX_VALUE}, {Long.MAX_VALUE - 10, 20},
        {4096, Long.MAX_VALUE - 4000}, {SIZE, 1}, {SIZE + 1L, 0}};
    for (long[] range : ranges) {
      long offset = range[0];
      long length = range[1];
      assertThatThrownBy(() -> disk.discard(offset, length)).as("discard %d+%d", offset, length)
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> disk.writeZeroes(offset, length)).as("writeZeroes %d+%d", offset, length)
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> disk.allocate(offset, length)).as("allocate %d+%d", offset, length)
          .isInstanceOf(IllegalArgumentException.class);
    }
    assertThatThrownBy(() -> disk.write(ByteBuffer.allocate(1), Long.MAX_VALUE)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> disk.read(ByteBuffer.allocate(1), -1)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> disk.read((ByteBuffer) null, 0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> disk.write((ByteBuffer) null, 0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> disk.read(new ByteBuffer[] {null}, 0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> disk.write((ByteBuffer[]) null, 0)).isInstanceOf(IllegalArgumentException.class);
    assertThat(disk.read(ByteBuffer.allocate(1), Long.MAX_VALUE)).isEqualTo(-1);
    assertThat(disk.blockStatus(SIZE - 512, Long.MAX_VALUE).length()).isEqualTo(512);
    assertThat(readAll()).isEqualTo(model);
  }

  @Test
  void everyOperationAfterCloseIsAClosedChannelError() throws IOException {
    disk.close();
    java.util.List<org.assertj.core.api.ThrowableAssert.ThrowingCallable> calls = java.util.List.of(
        () -> disk.read(ByteBuffer.allocate(1), 0),
        () -> disk.read(new ByteBuffer[] {ByteBuffer.allocate(1)}, 0),
        () -> disk.write(ByteBuffer.allocate(1), 0),
        () -> disk.write(new ByteBuffer[] {ByteBuffer.allocate(1)}, 0),
        () -> disk.flush(),
        () -> disk.force(true),
        () -> disk.discard(0, 512),
        () -> disk.writeZeroes(0, 512),
        () -> disk.allocate(0, 512),
        () -> disk.resize(SIZE * 2L),
        () -> disk.blockStatus(0, 512),
        () -> disk.info());
    for (var call : calls) {
      assertThatThrownBy(call).isInstanceOf(java.nio.channels.ClosedChannelException.class)
          .hasMessageContaining("closed");
    }
    disk.close();
  }

  @Test
  void vectoredReadsAndWritesActAsOneRange() throws IOException {
    byte[] first = filled(3000, 1);
    byte[] second = filled(70_000, 2);
    disk.write(new ByteBuffer[] {ByteBuffer.wrap(first), ByteBuffer.wrap(second)}, 12345);
    System.arraycopy(first, 0, model, 12345, first.length);
    System.arraycopy(second, 0, model, 12345 + first.length, second.length);
    ByteBuffer a = ByteBuffer.allocate(5000);
    ByteBuffer b = ByteBuffer.allocateDirect(80_000);
    assertThat(disk.read(new ByteBuffer[] {a, b}, 10_000)).isEqualTo(85_000);
    byte[] back = new byte[85_000];
    a.flip().get(back, 0, 5000);
    b.flip().get(back, 5000, 80_000);
    assertThat(back).isEqualTo(Arrays.copyOfRange(model, 10_000, 95_000));
  }

  @Test
  void writeZeroesAndDiscardReadAsZeros() throws IOException {
    writeModel(0, filled(SIZE, 7));
    disk.writeZeroes(100_000, 300_000);
    Arrays.fill(model, 100_000, 400_000, (byte) 0);
    long[] zeroed = Discards.zeroedRange(disk, 1 << 20, (1 << 20) + 777);
    disk.discard(1 << 20, (1 << 20) + 777);
    Arrays.fill(model, (int) zeroed[0], (int) zeroed[1], (byte) 0);
    assertThat(readAll()).isEqualTo(model);
    disk.flush();
    assertThat(readAll()).isEqualTo(model);
  }

  @Test
  void allocateKeepsContent() throws IOException {
    writeModel(5000, filled(10_000, 9));
    disk.allocate(0, SIZE);
    assertThat(readAll()).isEqualTo(model);
  }

  @Test
  void blockStatusCoversTheDiskAndAgreesWithContent() throws IOException {
    writeModel(SIZE / 2, filled(65536, 3));
    disk.flush();
    long offset = 0;
    while (offset < SIZE) {
      Extent extent = disk.blockStatus(offset, SIZE - offset);
      assertThat(extent.start()).isEqualTo(offset);
      assertThat(extent.length()).isPositive();
      if (extent.zero()) {
        byte[] range = Arrays.copyOfRange(model, (int) offset, (int) extent.end());
        assertThat(range).as("extent %s reads as zeros", extent).containsOnly(0);
      }
      offset = extent.end();
    }
    assertThat(offset).isEqualTo(SIZE);
  }

  @Test
  void channelsHaveTheirOwnPositions() throws IOException {
    writeModel(0, filled(SIZE, 5));
    try (DiskChannel one = disk.channel(); DiskChannel two = disk.channel()) {
      one.position(1000);
      ByteBuffer buffer = ByteBuffer.allocate(10);
      assertThat(one.read(buffer)).isEqualTo(10);
      assertThat(one.position()).isEqualTo(1010);
      assertThat(two.position()).isZero();
      two.position(SIZE);
      assertThat(two.read(ByteBuffer.allocate(1))).isEqualTo(-1);
      assertThat(one.size()).isEqualTo(SIZE);
    }
    try (InputStream in = disk.inputStream()) {
      assertThat(in.readAllBytes()).isEqualTo(model);
    }
  }

  @Test
  void asyncViewRunsOperations() throws Exception {
    var async = disk.async(Executors.newVirtualThreadPerTaskExecutor());
    byte[] data = filled(4096, 4);
    assertThat(async.write(ByteBuffer.wrap(data), 8192).get()).isEqualTo(4096);
    async.flush().get();
    ByteBuffer back = ByteBuffer.allocate(4096);
    async.readFully(back, 8192).get();
    assertThat(back.array()).isEqualTo(data);
  }

  @Test
  void growsAndKeepsContent() throws IOException {
    writeModel(SIZE - 4096, filled(4096, 6));
    disk.resize(2L * SIZE);
    assertThat(disk.size()).isEqualTo(2L * SIZE);
    byte[] back = new byte[2 * SIZE];
    disk.readFully(ByteBuffer.wrap(back), 0);
    assertThat(Arrays.copyOf(back, SIZE)).isEqualTo(model);
    if (growsWithZeros()) {
      assertThat(Arrays.copyOfRange(back, SIZE, 2 * SIZE)).containsOnly(0);
    }
  }

  @Test
  void concurrentWritersToDisjointBytesKeepTheirData() throws Exception {
    int threads = 8;
    var executor = Executors.newFixedThreadPool(threads);
    try {
      var futures = new java.util.ArrayList<java.util.concurrent.Future<?>>();
      for (int thread = 0; thread < threads; thread++) {
        int owner = thread;
        futures.add(executor.submit(() -> {
          // Each thread owns every 8th 4 KiB block: clusters are shared, bytes are not.
          for (int block = owner; block < SIZE / 4096; block += threads) {
            disk.writeFully(ByteBuffer.wrap(filled(4096, owner + 1)), block * 4096L);
          }
          return null;
        }));
      }
      for (var future : futures) {
        future.get();
      }
    } finally {
      executor.shutdown();
    }
    for (int block = 0; block < SIZE / 4096; block++) {
      Arrays.fill(model, block * 4096, (block + 1) * 4096, (byte) (block % threads + 1));
    }
    assertThat(readAll()).isEqualTo(model);
  }

  byte[] readAll() throws IOException {
    byte[] back = new byte[(int) disk.size()];
    disk.readFully(ByteBuffer.wrap(back), 0);
    return back;
  }

  void writeModel(int offset, byte[] data) throws IOException {
    disk.writeFully(ByteBuffer.wrap(data), offset);
    System.arraycopy(data, 0, model, offset, data.length);
  }

  static byte[] filled(int length, int value) {
    byte[] bytes = new byte[length];
    Arrays.fill(bytes, (byte) value);
    return bytes;
  }
}
