package io.qcow4j.write;

import io.qcow4j.testing.Discards;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.qcow4j.disk.AsyncDiskFile;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Eight threads on one image: each owns every eighth 4 KiB block, so clusters are shared between
 * threads but bytes are not. They write, zero, discard and flush their own blocks and check them
 * after every write and at the end; then the whole disk, qemu-img check and qemu-img compare.
 */
class ConcurrentWriteTest {
  private static final int THREADS = 8;
  private static final int BLOCK = 4096;
  private static final long SIZE = 16 << 20;
  private static final long HOT_REGION = 512 * 1024;

  @TempDir Path dir;

  record Shape(String name, UnaryOperator<CreateOptions> options, boolean backing, long cacheBytes) {
    @Override
    public String toString() {
      return name;
    }
  }

  static Stream<Arguments> runs() {
    long defaultCache = OpenOptions.DEFAULT_CACHE_BYTES;
    List<Shape> shapes = List.of(
        new Shape("cluster=64k", o -> o, false, defaultCache),
        new Shape("cluster=4k", o -> o.withClusterSize(4096), false, defaultCache),
        new Shape("cluster=64k,backing=qcow2", o -> o, true, defaultCache),
        new Shape("cluster=4k,backing=qcow2", o -> o.withClusterSize(4096), true, defaultCache),
        new Shape("cluster=64k,extended_l2", o -> o.withExtendedL2(true), false, defaultCache),
        new Shape("cluster=4k,small cache", o -> o.withClusterSize(4096), false, 16384));
    return shapes.stream().flatMap(shape -> WriteTesting.seeds("concurrent " + shape.name(), 1, 4).stream()
        .map(seed -> Arguments.of(shape, seed)));
  }

  @ParameterizedTest(name = "{0} seed={1}")
  @MethodSource("runs")
  void eightThreadsWriteInterleavedBlocks(Shape shape, long seed) throws Exception {
    String context = shape.name() + " seed=" + seed + " (thread schedules vary; rerun with -DQCOW4J_SEED=" + seed
        + " -Dtest=ConcurrentWriteTest)";
    Path image = dir.resolve("concurrent.qcow2");
    CreateOptions options = shape.options().apply(CreateOptions.of(SIZE));
    DiskModel model = new DiskModel(SIZE);
    byte[] initial = new byte[(int) SIZE];
    if (shape.backing()) {
      Path base = dir.resolve("base.qcow2");
      QemuTools tools = QemuTools.in(dir);
      tools.img("create", "-q", "-f", "qcow2", base, SIZE);
      tools.io("-c", "write -P 0x42 0 6M", "-c", "write -P 0x43 9M 3M", base);
      Arrays.fill(initial, 0, 6 << 20, (byte) 0x42);
      Arrays.fill(initial, 9 << 20, 12 << 20, (byte) 0x43);
      model.write(0, initial);
      options = options.withBacking("base.qcow2", ImageFormat.QCOW2);
    }
    QcowFile.create(image, options).close();
    int iterations = WriteTesting.longRun() ? 4000 : 600;
    byte[] expected = model.snapshot();

    assertTimeoutPreemptively(Duration.ofSeconds(WriteTesting.longRun() ? 900 : 120), () -> {
      try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults().withCacheBytes(shape.cacheBytes()));
          ExecutorService pool = Executors.newFixedThreadPool(THREADS)) {
        CountDownLatch start = new CountDownLatch(1);
        List<Future<?>> workers = new ArrayList<>();
        for (int thread = 0; thread < THREADS; thread++) {
          int owner = thread;
          Random random = new Random(seed * 31 + thread);
          workers.add(pool.submit(() -> {
            start.await();
            hammer(disk, owner, random, expected, iterations, context);
            return null;
          }));
        }
        start.countDown();
        for (Future<?> worker : workers) {
          worker.get();
        }
        new DiskModel(expected).assertWholeDisk(disk, context + ": whole disk after all threads finished");
      }
    }, context + ": threads did not finish in time (deadlock?)");

    DiskModel result = new DiskModel(expected);
    WriteTesting.assertCheckClean(image, context);
    WriteTesting.assertSameAsModel(image, result, context);
  }

  /** One thread's work: only blocks whose index is {@code owner} modulo the thread count. */
  private static void hammer(QcowFile disk, int owner, Random random, byte[] expected, int iterations, String context)
      throws IOException {
    long clusterSize = disk.clusterSize();
    boolean keepsDiscards = disk.info().qcow2().version() < 3 && disk.info().backingFile() != null;
    long blocks = SIZE / BLOCK;
    long hotBlocks = HOT_REGION / BLOCK;
    for (int iteration = 0; iteration < iterations; iteration++) {
      long span = random.nextBoolean() ? hotBlocks : blocks;
      long block = (random.nextLong(span / THREADS)) * THREADS + owner;
      long blockStart = block * BLOCK;
      int choice = random.nextInt(100);
      String what;
      if (choice < 70) {
        int from = random.nextBoolean() ? 0 : random.nextInt(BLOCK);
        int to = random.nextBoolean() ? BLOCK : from + random.nextInt(BLOCK - from + 1);
        byte[] data = new byte[to - from];
        random.nextBytes(data);
        what = "write " + (blockStart + from) + " +" + data.length;
        ByteBuffer source = random.nextBoolean() ? ByteBuffer.wrap(data) : ByteBuffer.allocateDirect(data.length).put(data).flip();
        disk.writeFully(source, blockStart + from);
        System.arraycopy(data, 0, expected, (int) blockStart + from, data.length);
      } else if (choice < 80) {
        what = "discard " + blockStart + " +" + BLOCK;
        // Only whole clusters are discarded: a block smaller than a cluster keeps its bytes.
        long[] zeroed = Discards.zeroedRange(blockStart, BLOCK, disk.size(), clusterSize, keepsDiscards);
        disk.discard(blockStart, BLOCK);
        Arrays.fill(expected, (int) zeroed[0], (int) zeroed[1], (byte) 0);
      } else if (choice < 86) {
        what = "writeZeroes " + blockStart + " +" + BLOCK;
        disk.writeZeroes(blockStart, BLOCK);
        Arrays.fill(expected, (int) blockStart, (int) blockStart + BLOCK, (byte) 0);
      } else if (choice < 91) {
        what = "flush";
        disk.flush();
      } else {
        what = "read";
      }
      ByteBuffer back = ByteBuffer.allocate(BLOCK);
      disk.readFully(back, blockStart);
      DiskModel.assertSame(back.array(), 0, expected, (int) blockStart, BLOCK, blockStart,
          context + ": thread " + owner + ", iteration " + iteration + ", after " + what);
    }
    // At the end, every block this thread owns must still hold what it last wrote there.
    for (long block = owner; block < blocks; block += THREADS) {
      ByteBuffer back = ByteBuffer.allocate(BLOCK);
      disk.readFully(back, block * BLOCK);
      DiskModel.assertSame(back.array(), 0, expected, (int) (block * BLOCK), BLOCK, block * BLOCK,
          context + ": thread " + owner + ", final check of its blocks");
    }
  }

  static Stream<Arguments> raceRuns() {
    return runs().filter(arguments -> !((Shape) arguments.get()[0]).name().startsWith("cluster=4k"));
  }

  /**
   * Round after round, all threads start together on the same fresh cluster, each writing its own
   * blocks there, so that allocation and copy-on-write of one cluster race with in-place writes.
   */
  @ParameterizedTest(name = "{0} seed={1}")
  @MethodSource("raceRuns")
  void threadsRaceOnFreshClusters(Shape shape, long seed) throws Exception {
    String context = shape.name() + " seed=" + seed + " (thread schedules vary)";
    Path image = dir.resolve("race.qcow2");
    CreateOptions options = shape.options().apply(CreateOptions.of(SIZE));
    byte[] expected = new byte[(int) SIZE];
    if (shape.backing()) {
      Path base = dir.resolve("race-base.qcow2");
      QemuTools.in(dir).img("create", "-q", "-f", "qcow2", base, SIZE);
      QemuTools.in(dir).io("-c", "write -P 0x42 0 16M", base);
      Arrays.fill(expected, (byte) 0x42);
      options = options.withBacking("race-base.qcow2", ImageFormat.QCOW2);
    }
    QcowFile.create(image, options).close();
    int clusterSize = options.clusterSize();
    int rounds = (int) Math.min(SIZE / clusterSize, WriteTesting.longRun() ? SIZE / clusterSize : 96);

    assertTimeoutPreemptively(Duration.ofSeconds(WriteTesting.longRun() ? 900 : 120), () -> {
      try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults().withCacheBytes(shape.cacheBytes()));
          ExecutorService pool = Executors.newFixedThreadPool(THREADS)) {
        java.util.concurrent.CyclicBarrier together = new java.util.concurrent.CyclicBarrier(THREADS);
        List<Future<?>> workers = new ArrayList<>();
        for (int thread = 0; thread < THREADS; thread++) {
          int owner = thread;
          Random random = new Random(seed * 17 + thread);
          workers.add(pool.submit(() -> {
            try {
            for (int round = 0; round < rounds; round++) {
              together.await();
              long clusterStart = (long) round * clusterSize;
              for (long block = clusterStart / BLOCK + owner; block * BLOCK < clusterStart + clusterSize; block += THREADS) {
                byte[] data = new byte[BLOCK];
                random.nextBytes(data);
                disk.writeFully(ByteBuffer.wrap(data), block * BLOCK);
                System.arraycopy(data, 0, expected, (int) (block * BLOCK), BLOCK);
                ByteBuffer back = ByteBuffer.allocate(BLOCK);
                disk.readFully(back, block * BLOCK);
                DiskModel.assertSame(back.array(), 0, expected, (int) (block * BLOCK), BLOCK, block * BLOCK,
                    context + ": thread " + owner + ", round " + round + ", read back");
              }
            }
            } catch (Throwable failure) {
              // Release the others from the barrier; this failure is the one to report.
              together.reset();
              throw failure;
            }
            return null;
          }));
        }
        Throwable first = null;
        for (Future<?> worker : workers) {
          try {
            worker.get();
          } catch (java.util.concurrent.ExecutionException e) {
            if (first == null || first instanceof java.util.concurrent.BrokenBarrierException) {
              first = e.getCause();
            }
          }
        }
        if (first != null) {
          throw first;
        }
        new DiskModel(expected).assertWholeDisk(disk, context + ": whole disk after the races");
      }
    }, context + ": threads did not finish in time (deadlock?)");
    WriteTesting.assertCheckClean(image, context);
    WriteTesting.assertSameAsModel(image, new DiskModel(expected), context);
  }

  /**
   * Readers that miss in a tiny L2 cache load tables from the file while writers allocate clusters
   * and flush after every write, so that slices are written, become clean and are evicted all the
   * time: a reader must never put a table it read before a flush back into the cache over the newer
   * one (the writers would then lose entries and reallocate their clusters, losing data).
   */
  @Test
  void readersLoadingTablesDuringFlushesNeverResurrectOldEntries() throws Exception {
    Path image = dir.resolve("stale.qcow2");
    int clusterSize = 4096;
    long size = 16 << 20;
    QcowFile.create(image, CreateOptions.of(size).withClusterSize(clusterSize)).close();
    byte[] expected = new byte[(int) size];
    int writers = 4;
    int readers = 4;
    long seconds = WriteTesting.longRun() ? 60 : 4;
    assertTimeoutPreemptively(Duration.ofSeconds(seconds + 120), () -> {
      try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults().withCacheBytes(8192));
          ExecutorService pool = Executors.newFixedThreadPool(writers + readers)) {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        List<Future<?>> tasks = new ArrayList<>();
        for (int reader = 0; reader < readers; reader++) {
          Random random = new Random(reader);
          tasks.add(pool.submit(() -> {
            ByteBuffer buffer = ByteBuffer.allocate(512);
            while (!stop.get()) {
              buffer.clear();
              disk.readFully(buffer, random.nextLong(size / 512) * 512);
            }
            return null;
          }));
        }
        for (int writer = 0; writer < writers; writer++) {
          int owner = writer;
          Random random = new Random(100 + writer);
          tasks.add(pool.submit(() -> {
            try {
              long clusters = size / clusterSize;
              for (int round = 0; System.nanoTime() < deadline; round++) {
                long cluster = random.nextLong(clusters / writers) * writers + owner;
                long offset = cluster * clusterSize + random.nextInt(clusterSize - 100);
                byte[] data = new byte[100];
                random.nextBytes(data);
                disk.writeFully(ByteBuffer.wrap(data), offset);
                System.arraycopy(data, 0, expected, (int) offset, data.length);
                disk.flush();
                ByteBuffer back = ByteBuffer.allocate(clusterSize);
                disk.readFully(back, cluster * clusterSize);
                DiskModel.assertSame(back.array(), 0, expected, (int) (cluster * clusterSize), clusterSize,
                    cluster * clusterSize, "writer " + owner + ", round " + round + ", its cluster after its write");
              }
            } finally {
              stop.set(true);
            }
            return null;
          }));
        }
        for (Future<?> task : tasks) {
          task.get();
        }
        new DiskModel(expected).assertWholeDisk(disk, "whole disk after readers raced flushes");
      }
    }, "readers and writers did not finish in time (deadlock?)");
    WriteTesting.assertCheckClean(image, "after readers raced flushes");
  }

  // ---------------------------------------------------------------- AsyncDiskFile

  @Test
  void asyncViewWritesReadsFlushesAndReportsFailures() throws Exception {
    Path image = dir.resolve("async.qcow2");
    try (QcowFile disk = QcowFile.create(image, CreateOptions.of(4 << 20).withClusterSize(4096));
        ExecutorService executor = Executors.newFixedThreadPool(4)) {
      for (AsyncDiskFile async : List.of(disk.async(executor), disk.async())) {
        assertThat(async.disk()).isSameAs(disk);
        byte[] expected = new byte[4 << 20];
        List<CompletableFuture<?>> pending = new ArrayList<>();
        Random random = new Random(7);
        for (int index = 0; index < 64; index++) {
          byte[] data = new byte[8192];
          random.nextBytes(data);
          long offset = index * 65536L + 1000;
          System.arraycopy(data, 0, expected, (int) offset, data.length);
          pending.add(async.write(ByteBuffer.wrap(data), offset)
              .thenAccept(count -> assertThat(count).isEqualTo(8192)));
        }
        pending.add(async.flush());
        CompletableFuture.allOf(pending.toArray(CompletableFuture[]::new)).get();
        async.writeZeroes(1000, 4096).get();
        Arrays.fill(expected, 1000, 5096, (byte) 0);
        async.discard(65536, 65536).get();
        Arrays.fill(expected, 65536, 131072, (byte) 0);
        async.force(true).get();
        ByteBuffer all = ByteBuffer.allocate(4 << 20);
        async.readFully(all, 0).get();
        assertThat(Arrays.mismatch(all.array(), expected)).isEqualTo(-1);
        ByteBuffer one = ByteBuffer.allocate(10);
        assertThat(async.read(one, (4 << 20) - 4).get()).isEqualTo(4);

        CompletableFuture<Integer> outside = async.write(ByteBuffer.allocate(16), 4 << 20);
        assertThatThrownBy(outside::join).isInstanceOf(CompletionException.class).hasCauseInstanceOf(IllegalArgumentException.class);
        // Clear the area for the second round.
        disk.discard(0, 4 << 20);
      }
    }
    WriteTesting.assertCheckClean(image, "after the async writes");
    assertThat(Files.exists(image)).isTrue();
  }
}
