package io.qcow4j.write;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Four writers on one image file through the library, each on its own 512-byte-aligned stripes of
 * the same clusters ({@link StripeLayout}), mixing writes, writeZeroes with and without unmap,
 * discards, allocate, compressed clusters and reads ({@link StripedWriter}), on every
 * {@link ImageShape}; between rounds, shared clusters are discarded whole so that they are
 * allocated again under concurrent writers.
 * Every acknowledged change must read back at once, the whole disk must match the shadow copy when
 * all are done, and after close our check (Repair.NONE) and qemu-img check must find the image
 * clean and qemu-img compare identical to the shadow. Thread schedules vary between runs; replay a
 * seed's operations with -DQCOW4J_SEED=seed.
 */
class ConcurrentStripeTest {
  private static final int WRITERS = 4;
  private static final int ROUNDS = 6;

  /** Kept when a test fails, with the failing image in it. */
  @TempDir(cleanup = CleanupMode.ON_SUCCESS) Path dir;

  static Stream<Arguments> runs() {
    return ImageShape.campaign().stream().flatMap(shape -> WriteTesting.seeds("stripes " + shape.name(), 3, 10)
        .stream().map(seed -> Arguments.of(shape, seed)));
  }

  @ParameterizedTest(name = "{0} seed={1}")
  @MethodSource("runs")
  void writersSharingClustersKeepEveryAcknowledgedChange(ImageShape shape, long seed) throws Exception {
    Path image = dir.resolve("striped.qcow2");
    String context = shape.name() + " seed=" + seed + " (replay with -DQCOW4J_SEED=" + seed
        + " -Dtest=ConcurrentStripeTest; thread schedules vary between runs)\nimage (kept when the test fails): "
        + image;
    System.out.println("ConcurrentStripeTest " + context);
    Random random = new Random(seed);
    long[] initial = new long[(int) (shape.size() / SectorTag.SECTOR)];
    ShapeSetup.makeBase(dir, shape, random, initial);
    try (QcowFile disk = QcowFile.create(image, ShapeSetup.options(shape))) {
      ShapeSetup.populate(disk, shape, random, initial);
    }
    byte[] shadow = new byte[(int) shape.size()];
    for (int sector = 0; sector < initial.length; sector++) {
      if (initial[sector] != 0) {
        SectorTag.fill(shadow, sector * SectorTag.SECTOR, sector, initial[sector]);
      }
    }
    StripeLayout layout = new StripeLayout(shape.size(), shape.clusterSize(), WRITERS);
    AtomicLong sequence = new AtomicLong(ShapeSetup.FIRST_WORKLOAD_SEQUENCE);
    int operations = WriteTesting.longRun() ? 3000 : 480;

    assertTimeoutPreemptively(Duration.ofSeconds(WriteTesting.longRun() ? 900 : 120), () -> {
      try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults());
          ExecutorService pool = Executors.newFixedThreadPool(WRITERS)) {
        CountDownLatch start = new CountDownLatch(1);
        ClusterEmptier betweenRounds = new ClusterEmptier(WRITERS, disk, layout, shadow, new Random(seed + 1));
        List<Future<?>> writers = new ArrayList<>();
        for (int writer = 0; writer < WRITERS; writer++) {
          StripedWriter striped = new StripedWriter(disk, shape, layout, shadow, sequence, writer,
              new Random(seed * 7919 + writer));
          writers.add(pool.submit(() -> {
            start.await();
            striped.run(operations, ROUNDS, betweenRounds);
            return null;
          }));
        }
        start.countDown();
        Throwable first = null;
        for (Future<?> writer : writers) {
          try {
            writer.get();
          } catch (ExecutionException e) {
            // A writer stopped by another's failure reports less than the one that failed.
            if (first == null || first instanceof IllegalStateException) {
              first = e.getCause();
            }
          }
        }
        if (betweenRounds.failure() != null) {
          throw new AssertionError(context + "\nemptying clusters between rounds failed: " + betweenRounds.failure(),
              betweenRounds.failure());
        }
        if (first != null) {
          throw new AssertionError(context + "\n" + first.getMessage(), first);
        }
        StripedWriter.assertSectors(SurvivorCheck.readAll(disk), 0, shadow, 0, shadow.length,
            context + "\nthe whole disk after all writers finished");
      }
    }, context + ": the writers did not finish in time (deadlock?)");

    CheckResult ours = QcowFile.check(image, CheckResult.Repair.NONE);
    if (ours.corruptions() != 0 || ours.leaks() != 0 || ours.checkErrors() != 0) {
      fail(context + "\nafter close, our check is not clean: " + SurvivorCheck.describe(ours));
    }
    WriteTesting.assertCheckClean(image, context + "\nafter close");
    try (QcowFile reopened = QcowFile.open(image, OpenOptions.readOnlyDefaults())) {
      StripedWriter.assertSectors(SurvivorCheck.readAll(reopened), 0, shadow, 0, shadow.length,
          context + "\nthe whole disk reopened after close");
    }
    WriteTesting.assertSameAsModel(image, new DiskModel(shadow), context + "\nafter close");
    if (shape.snapshot()) {
      SurvivorCheck.assertSnapshotIntact(image, initial, context + "\nafter close");
    }
  }
}
