package io.qcow4j.write;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.testing.FaultyStorage;
import io.qcow4j.testing.FaultyStorage.Tearing;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The concurrent crash campaign: four threads write, rewrite, compress, discard, zero, allocate,
 * flush and force on one image over {@link FaultyStorage}, on every {@link ImageShape}; then power is
 * cut at many points, each keeping a random subset (whole or torn per sector) of the changes no
 * barrier made durable. Each survivor goes through {@link SurvivorCheck}: it opens, reads as the
 * {@link SectorModel} allows (whatever a completed force covered is there; no data of another
 * offset), has no corruption, and check -r all leaves it clean. Thread schedules vary between
 * runs; the seed fixes the operations and the cuts. Replay with -DQCOW4J_SEED=seed; QCOW4J_LONG=1
 * runs many seeds with many cuts each.
 */
class ConcurrentCrashTest {
  private static final int THREADS = 4;

  /** Kept when a test fails, with the failing image in it. */
  @TempDir(cleanup = CleanupMode.ON_SUCCESS) Path dir;

  static Stream<Arguments> runs() {
    return ImageShape.campaign().stream().flatMap(shape -> WriteTesting.seeds("concurrent crash " + shape.name(), 2, 10)
        .stream().map(seed -> Arguments.of(shape, seed)));
  }

  @ParameterizedTest(name = "{0} seed={1}")
  @MethodSource("runs")
  void survivorsKeepWhatCompletedForcesCovered(ImageShape shape, long seed) throws Exception {
    String context = shape.name() + " seed=" + seed + " (replay with -DQCOW4J_SEED=" + seed
        + " -Dtest=ConcurrentCrashTest; thread schedules vary between runs)";
    System.out.println("ConcurrentCrashTest " + context);
    Random random = new Random(seed);
    long[] initial = new long[(int) (shape.size() / SectorTag.SECTOR)];
    ShapeSetup.makeBase(dir, shape, random, initial);
    Path imagePath = Files.createFile(dir.resolve("image.qcow2"));
    FaultyStorage storage = new FaultyStorage("image.qcow2");
    if (random.nextBoolean()) {
      storage.whileInFlight(Thread::yield);
    }

    QcowFile disk = QcowFile.create(storage, imagePath, ShapeSetup.options(shape));
    OperationLog log;
    long created;
    try {
      ShapeSetup.populate(disk, shape, random, initial);
      created = storage.eventCount();
      log = new OperationLog(storage, ShapeSetup.FIRST_WORKLOAD_SEQUENCE);
      OperationLog workloadLog = log;
      int operations = WriteTesting.longRun() ? 80 : 40;
      assertTimeoutPreemptively(Duration.ofSeconds(WriteTesting.longRun() ? 600 : 120),
          () -> new ConcurrentWorkload(disk, shape, workloadLog).run(seed, THREADS, operations),
          context + ": the workload did not finish in time (deadlock?)");
      List<String> live = new SectorModel(initial, log.operations(), log.forces())
          .violations(SurvivorCheck.readAll(disk), SectorModel.NO_CUT, 6);
      if (!live.isEmpty()) {
        fail(context + "\nno crash yet: the live image after all threads finished breaks the model\n"
            + String.join("\n", live) + "\nworkload:\n  " + String.join("\n  ", log.describe()));
      }
      long begun = log.beforeForce();
      disk.force(true);
      log.forced(-1, begun);
    } finally {
      disk.close();
    }
    long total = storage.eventCount();
    SectorModel model = new SectorModel(initial, log.operations(), log.forces());
    SurvivorCheck check = new SurvivorCheck(model, shape, initial);

    TreeSet<Long> cuts = cutPoints(random, created, total, log.forces());
    FaultyStorage.Replay replay = storage.replay();
    Path file = dir.resolve("survivor.qcow2");
    for (long cut : cuts) {
      double keep = new double[] {0, 0.3, 0.5, 0.7, 1}[random.nextInt(5)];
      Tearing tearing = random.nextBoolean() ? Tearing.NONE : Tearing.SECTORS;
      OperationLog.Force durable = model.lastForceBefore(cut);
      String cutContext = context + "\ncut before event " + cut + " of " + total + " (workload from event " + created
          + "), keep " + keep + ", tearing " + tearing + ", " + replay.changesSinceBarrier(cut)
          + " changes not durable; last completed force: " + (durable == null ? "none (setup only)" : durable);
      byte[] survivor = replay.survivorAt(cut, random, keep, tearing);
      Files.write(file, survivor);
      try {
        check.verify(file, cut, random.nextBoolean(), cutContext);
      } catch (AssertionError e) {
        // The survivor as the cut left it, before any repair.
        Path kept = Files.write(dir.resolve("failed-survivor.qcow2"), survivor);
        throw new AssertionError(e.getMessage() + "\n(survivor kept in " + kept + ")\nworkload:\n  "
            + String.join("\n  ", log.describe()), e);
      }
    }
  }

  /** The end of the setup, the end, each force's return and the event before it, then random points. */
  private static TreeSet<Long> cutPoints(Random random, long created, long total, List<OperationLog.Force> forces) {
    int budget = (int) Math.min(total - created + 1, WriteTesting.longRun() ? 60 : 14);
    TreeSet<Long> points = new TreeSet<>();
    points.add(created);
    points.add(total);
    List<OperationLog.Force> shuffled = new java.util.ArrayList<>(forces);
    java.util.Collections.shuffle(shuffled, random);
    for (OperationLog.Force force : shuffled) {
      if (points.size() >= budget * 2 / 3) {
        break;
      }
      points.add(force.endEvent());
      points.add(Math.max(created, force.endEvent() - 1));
    }
    while (points.size() < budget) {
      points.add(created + random.nextLong(total - created + 1));
    }
    return points;
  }
}
