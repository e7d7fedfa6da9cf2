package io.qcow4j.write;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.testing.Discards;
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
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The write placement under load (AllocationRun: head, whole and tail clusters of a write in one
 * host run behind the previous write; extended-L2 copy-on-write of the subclusters from the first
 * to the last allocated; compressed bytes in freed clusters): four threads over one image, each
 * owning its own segments of the disk, whose 512-byte-aligned boundaries fall inside clusters so
 * that neighbours share clusters and L2 tables. Each thread writes ranges of any length (partial
 * head and tail clusters, many whole clusters, single and gathered buffers), writes zeros with and
 * without unmap, discards, writes whole clusters compressed and flushes, over a backing file
 * filled at random, in two sessions (the image closed and opened again between them). After every operation the thread reads its range back against the shadow
 * copy; at the end the whole disk is compared, our check and qemu-img check must find the image
 * clean, and the bytes of {@code qemu-img convert -O raw} must equal the shadow. Thread schedules
 * vary; replay a seed's operations with -DQCOW4J_SEED=seed -Dtest=PlacementSoakTest
 * (QCOW4J_LONG=1 runs more seeds and more operations).
 */
class PlacementSoakTest {
  private static final int THREADS = 4;
  private static final long MIB = 1 << 20;

  @TempDir(cleanup = CleanupMode.ON_SUCCESS) Path dir;

  record Shape(String name, long size, boolean backing, boolean compressed, UnaryOperator<CreateOptions> options) {
    @Override
    public String toString() {
      return name;
    }
  }

  static List<Shape> shapes() {
    return List.of(
        new Shape("extended_l2,backing", 8 * MIB, true, true, o -> o.withExtendedL2(true)),
        new Shape("extended_l2,cluster=16k,backing", 4 * MIB, true, true,
            o -> o.withExtendedL2(true).withClusterSize(16384)),
        new Shape("extended_l2,cluster=32k", 4 * MIB, false, true, o -> o.withExtendedL2(true).withClusterSize(32768)),
        new Shape("defaults,backing", 8 * MIB, true, true, o -> o),
        new Shape("cluster=4k,backing", 4 * MIB, true, true, o -> o.withClusterSize(4096)),
        new Shape("cluster=512", 1 * MIB, false, true, o -> o.withClusterSize(512)));
  }

  static Stream<Arguments> runs() {
    return shapes().stream().flatMap(shape -> WriteTesting.seeds("placement soak " + shape.name(), 2, 8).stream()
        .map(seed -> Arguments.of(shape, seed)));
  }

  @ParameterizedTest(name = "{0} seed={1}")
  @MethodSource("runs")
  void concurrentMixedWritesKeepEveryByte(Shape shape, long seed) throws Exception {
    Path image = dir.resolve("soak.qcow2");
    String context = shape.name() + " seed=" + seed + " (replay with -DQCOW4J_SEED=" + seed
        + " -Dtest=PlacementSoakTest; thread schedules vary)\nimage (kept when the test fails): " + image;
    System.out.println("PlacementSoakTest " + context);
    Random random = new Random(seed);
    int size = (int) shape.size();
    byte[] shadow = new byte[size];
    CreateOptions options = shape.options().apply(CreateOptions.of(size));
    if (shape.backing()) {
      try (QcowFile base = QcowFile.create(dir.resolve("base.qcow2"), CreateOptions.of(size))) {
        for (int extent = 0; extent < 24; extent++) {
          int offset = random.nextInt(size / 512) * 512;
          int length = Math.min(size - offset, 512 * (1 + random.nextInt(1024)));
          byte[] data = WriteTesting.data(random, length);
          base.writeFully(ByteBuffer.wrap(data), offset);
          System.arraycopy(data, 0, shadow, offset, length);
        }
      }
      options = options.withBacking("base.qcow2", ImageFormat.QCOW2);
    }
    int clusterSize = options.clusterSize();
    int[] owner = new int[size / 512];
    List<List<int[]>> segments = segments(random, size, clusterSize, owner);
    try (QcowFile disk = QcowFile.create(image, options)) {
      // Some clusters start out compressed, so that rewrites free them and compressed bytes reuse them.
      for (int cluster = 0; shape.compressed() && cluster < size / clusterSize; cluster++) {
        if (random.nextInt(4) == 0) {
          byte[] data = compressible(random, clusterSize);
          byte[] packed = disk.compressCluster(ByteBuffer.wrap(data));
          if (packed != null) {
            disk.writeCompressed((long) cluster * clusterSize, packed);
            System.arraycopy(data, 0, shadow, cluster * clusterSize, clusterSize);
          }
        }
      }
    }
    int operations = WriteTesting.longRun() ? 2500 : 300;
    assertTimeoutPreemptively(Duration.ofSeconds(WriteTesting.longRun() ? 1200 : 180), () -> {
      List<Writer> writers = new ArrayList<>();
      for (int thread = 0; thread < THREADS; thread++) {
        writers.add(new Writer(shape, clusterSize, shadow, segments.get(thread), new Random(seed * 31 + thread), thread));
      }
      // Two sessions: the second starts with the allocator's cursor at 0 and empty caches, so its
      // writes are placed in the holes the first one's discards and rewrites left.
      for (int session = 0; session < 2; session++) {
        try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults());
            ExecutorService pool = Executors.newFixedThreadPool(THREADS)) {
          List<Future<?>> futures = new ArrayList<>();
          for (Writer writer : writers) {
            futures.add(pool.submit(() -> {
              writer.run(disk, operations / 2);
              return null;
            }));
          }
          AssertionError first = null;
          for (Future<?> future : futures) {
            try {
              future.get();
            } catch (ExecutionException e) {
              if (first == null) {
                first = new AssertionError(context + "\nsession " + session + ": " + e.getCause(), e.getCause());
              }
            }
          }
          if (first != null) {
            throw first;
          }
          assertSame(SurvivorCheck.readAll(disk), shadow, 0, size,
              context + "\nthe whole disk after the writers of session " + session);
        }
      }
    }, context + ": the writers did not finish in time (deadlock?)");

    CheckResult ours = QcowFile.check(image, CheckResult.Repair.NONE);
    if (ours.corruptions() != 0 || ours.leaks() != 0 || ours.checkErrors() != 0) {
      fail(context + "\nour check is not clean: " + SurvivorCheck.describe(ours));
    }
    WriteTesting.assertCheckClean(image, context);
    Path raw = dir.resolve("soak.raw");
    QemuTools.Result converted = QemuTools.in(dir).run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "convert",
        "-f", "qcow2", "-O", "raw", image, raw);
    if (converted.exitCode() != 0) {
      fail(context + "\nqemu-img convert failed:\n" + converted.describe());
    }
    assertSame(Files.readAllBytes(raw), shadow, 0, size, context + "\nqemu-img convert -O raw of the image");
  }

  /**
   * Cuts the disk into segments of 512 bytes to four clusters at 512-byte boundaries and gives
   * each to a thread at random; {@code owner} gets each sector's thread.
   */
  private static List<List<int[]>> segments(Random random, int size, int clusterSize, int[] owner) {
    List<List<int[]>> segments = new ArrayList<>();
    for (int thread = 0; thread < THREADS; thread++) {
      segments.add(new ArrayList<>());
    }
    int start = 0;
    while (start < size) {
      int length = 512 * (1 + random.nextInt(Math.max(1, 4 * clusterSize / 512)));
      int end = Math.min(size, start + length);
      int thread = random.nextInt(THREADS);
      segments.get(thread).add(new int[] {start, end});
      Arrays.fill(owner, start / 512, end / 512, thread);
      start = end;
    }
    for (List<int[]> list : segments) {
      if (list.isEmpty()) {
        list.add(segments.stream().filter(l -> l.size() > 1).findFirst().orElseThrow().removeLast());
      }
    }
    return segments;
  }

  /** Half random, half a repeated byte: compresses, and reads back as something of its own. */
  private static byte[] compressible(Random random, int length) {
    byte[] data = new byte[length];
    random.nextBytes(data);
    Arrays.fill(data, length / 2, length, (byte) (1 + random.nextInt(255)));
    return data;
  }

  private static void assertSame(byte[] actual, byte[] expected, int from, int to, String context) {
    int mismatch = Arrays.mismatch(actual, from, to, expected, from, to);
    if (mismatch >= 0) {
      int at = from + mismatch;
      fail(String.format("%s: byte at 0x%x (sector 0x%x) is 0x%02x, expected 0x%02x", context, at, at / 512,
          actual[at] & 0xff, expected[at] & 0xff));
    }
  }

  /** One thread: random operations on its own segments only, each read back at once. */
  private static final class Writer {
    private QcowFile disk;
    private final Shape shape;
    private final int clusterSize;
    private final byte[] shadow;
    private final List<int[]> segments;
    private final Random random;
    private final int thread;
    private String last = "nothing";

    Writer(Shape shape, int clusterSize, byte[] shadow, List<int[]> segments, Random random, int thread) {
      this.shape = shape;
      this.clusterSize = clusterSize;
      this.shadow = shadow;
      this.segments = segments;
      this.random = random;
      this.thread = thread;
    }

    void run(QcowFile disk, int operations) throws IOException {
      this.disk = disk;
      for (int step = 0; step < operations; step++) {
        try {
          step();
        } catch (IOException | RuntimeException | AssertionError e) {
          throw new AssertionError("thread " + thread + ", operation " + step + " (" + last + "): " + e, e);
        }
      }
    }

    private void step() throws IOException {
      int[] segment = segments.get(random.nextInt(segments.size()));
      int sectors = (segment[1] - segment[0]) / 512;
      int first = random.nextInt(sectors);
      int count = 1 + random.nextInt(sectors - first);
      if (random.nextInt(3) == 0) {
        first = 0;
        count = sectors;
      }
      int offset = segment[0] + first * 512;
      int length = count * 512;
      int choice = random.nextInt(100);
      if (choice < 35) {
        byte[] data = WriteTesting.data(random, length);
        last = "write " + offset + " +" + length;
        disk.writeFully(ByteBuffer.wrap(data), offset);
        System.arraycopy(data, 0, shadow, offset, length);
      } else if (choice < 47) {
        byte[] data = WriteTesting.data(random, length);
        int cut = random.nextInt(length + 1);
        last = "gathered write " + offset + " +" + length + " cut at " + cut;
        ByteBuffer[] parts = {ByteBuffer.wrap(data, 0, cut).slice(), ByteBuffer.wrap(data, cut, length - cut).slice()};
        long done = 0;
        while (done < length) {
          done += disk.write(parts, offset + done);
        }
        System.arraycopy(data, 0, shadow, offset, length);
      } else if (choice < 56) {
        last = "writeZeroes " + offset + " +" + length;
        disk.writeZeroes(offset, length);
        Arrays.fill(shadow, offset, offset + length, (byte) 0);
      } else if (choice < 64) {
        last = "writeZeroesUnmap " + offset + " +" + length;
        disk.writeZeroesUnmap(offset, length);
        Arrays.fill(shadow, offset, offset + length, (byte) 0);
      } else if (choice < 74) {
        last = "discard " + offset + " +" + length;
        long[] zeroed = Discards.zeroedRange(disk, offset, length);
        disk.discard(offset, length);
        Arrays.fill(shadow, (int) zeroed[0], (int) zeroed[1], (byte) 0);
      } else if (choice < 86) {
        int clusterStart = (segment[0] + clusterSize - 1) / clusterSize * clusterSize;
        if (!shape.compressed() || clusterStart + clusterSize > segment[1]) {
          last = "read " + offset + " +" + length;
        } else {
          int clusters = (segment[1] - clusterStart) / clusterSize;
          offset = clusterStart + random.nextInt(clusters) * clusterSize;
          length = clusterSize;
          byte[] data = compressible(random, clusterSize);
          byte[] packed = disk.compressCluster(ByteBuffer.wrap(data));
          last = "compressed write " + offset + " +" + length;
          if (packed == null) {
            disk.writeFully(ByteBuffer.wrap(data), offset);
          } else {
            disk.writeCompressed(offset, packed);
          }
          System.arraycopy(data, 0, shadow, offset, length);
        }
      } else if (choice < 90) {
        last = "flush";
        disk.flush();
      } else {
        last = "read " + offset + " +" + length;
      }
      ByteBuffer back = ByteBuffer.allocate(length);
      disk.readFully(back, offset);
      assertSame(back.array(), Arrays.copyOfRange(shadow, offset, offset + length), 0, length,
          "read back after " + last);
    }
  }
}
