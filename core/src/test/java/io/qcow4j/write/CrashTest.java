package io.qcow4j.write;

import io.qcow4j.testing.Discards;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow4j.disk.Compat;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.Preallocation;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.testing.FaultyStorage;
import io.qcow4j.testing.FaultyStorage.Tearing;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Power cuts over {@link FaultyStorage}: a workload (create, write, flush, force, discard,
 * writeZeroes, allocate, resize, reopen) is recorded once, then replayed up to many cut points,
 * each keeping an arbitrary subset of the changes since the last barrier, whole or torn at 512-byte
 * sectors. Every survivor must open, keep every byte that a completed force() covered, show no byte
 * that was never written there since (nothing stale from another owner), and pass qemu-img check
 * with leaks at most; lazy-refcount survivors are dirty and must come out of check -r all clean.
 */
class CrashTest {
  private static final long SIZE = 4 << 20;

  @TempDir Path dir;

  record Shape(String name, UnaryOperator<CreateOptions> options, boolean backing) {
    @Override
    public String toString() {
      return name;
    }
  }

  static Stream<Arguments> runs() {
    List<Shape> shapes = List.of(
        new Shape("defaults", o -> o, false),
        new Shape("cluster=4k", o -> o.withClusterSize(4096), false),
        new Shape("cluster=512,refcount_bits=64", o -> o.withClusterSize(512).withRefcountBits(64), false),
        new Shape("compat=0.10,cluster=4k", o -> o.withCompat(Compat.V2).withClusterSize(4096), false),
        new Shape("extended_l2,cluster=32k", o -> o.withExtendedL2(true).withClusterSize(32768), false),
        new Shape("lazy_refcounts,cluster=4k", o -> o.withLazyRefcounts(true).withClusterSize(4096), false),
        new Shape("preallocation=metadata,cluster=4k",
            o -> o.withPreallocation(Preallocation.METADATA).withClusterSize(4096), false),
        new Shape("backing=qcow2,cluster=4k", o -> o.withClusterSize(4096), true));
    return shapes.stream().flatMap(shape -> WriteTesting.seeds("crash " + shape.name(), 1, 4).stream()
        .map(seed -> Arguments.of(shape, seed)));
  }

  @ParameterizedTest(name = "{0} seed={1}")
  @MethodSource("runs")
  void survivorsOfEveryCutAreConsistent(Shape shape, long seed) throws IOException {
    String context = shape.name() + " seed=" + seed + " (replay with -DQCOW4J_SEED=" + seed + " -Dtest=CrashTest)";
    Random random = new Random(seed);
    CreateOptions options = shape.options().apply(CreateOptions.of(SIZE));
    byte[] initial = new byte[(int) SIZE];
    Path overlayPath = null;
    if (shape.backing()) {
      Path base = dir.resolve("base.qcow2");
      QemuTools tools = QemuTools.in(dir);
      tools.img("create", "-q", "-f", "qcow2", base, SIZE);
      tools.io("-c", "write -P 0x5b 0 1M", "-c", "write -P 0x6c 2M 1536k", base);
      Arrays.fill(initial, 0, 1 << 20, (byte) 0x5b);
      Arrays.fill(initial, 2 << 20, (2 << 20) + 1536 * 1024, (byte) 0x6c);
      options = options.withBacking("base.qcow2", ImageFormat.QCOW2);
      // Opening over a Storage resolves the backing name against a path, which must exist.
      overlayPath = Files.createFile(dir.resolve("overlay.qcow2"));
    }

    FaultyStorage storage = new FaultyStorage("crash.qcow2");
    List<CrashCheck.Change> changes = new ArrayList<>();
    List<CrashCheck.Forced> forced = new ArrayList<>();
    List<String> history = new ArrayList<>();
    long created = workload(storage, options, overlayPath, initial, random, changes, forced, history);
    long total = storage.eventCount();

    int cuts = WriteTesting.longRun() ? 400 : 40;
    TreeSet<Long> points = new TreeSet<>();
    points.add(created);
    points.add(total);
    // Every barrier and its neighbours, then random points, up to the budget.
    for (CrashCheck.Forced force : forced) {
      if (points.size() < cuts / 2) {
        points.add(force.event());
        points.add(Math.max(created, force.event() - 1));
      }
    }
    // Never more cut points than there are events after create.
    cuts = (int) Math.min(cuts, total - created + 1);
    while (points.size() < cuts) {
      points.add(created + random.nextLong(total - created + 1));
    }
    // A few cuts inside create: the image need not open, but the open must fail cleanly.
    for (int index = 0; index < 3 && created > 0; index++) {
      points.add(random.nextLong(created));
    }

    FaultyStorage.Replay replay = storage.replay();
    int survivorIndex = 0;
    for (long cut : points) {
      double keep = new double[] {0, 0.3, 0.5, 0.7, 1}[random.nextInt(5)];
      Tearing tearing = random.nextBoolean() ? Tearing.NONE : Tearing.SECTORS;
      String cutContext = context + "\ncut at event " + cut + " of " + total + " (create done at " + created
          + "), keep " + keep + ", tearing " + tearing + "\nworkload:\n  " + String.join("\n  ", history);
      byte[] survivor = replay.survivorAt(cut, random, keep, tearing);
      Path file = dir.resolve("survivor-" + (survivorIndex++ % 2) + ".qcow2");
      Files.write(file, survivor);
      if (cut < created) {
        openInsideCreate(file, cutContext);
        continue;
      }
      verifySurvivor(file, cut, changes, forced, options.lazyRefcounts(), cutContext);
    }
  }

  private static void openInsideCreate(Path file, String context) {
    try (QcowFile image = QcowFile.open(file, OpenOptions.readOnlyDefaults())) {
      image.readFully(ByteBuffer.allocate(4096), 0);
    } catch (IOException expected) {
      // A half-made image may be refused; the refusal must be an IOException.
    } catch (RuntimeException e) {
      throw new AssertionError(context + "\nopening an image cut inside create failed with " + e, e);
    }
  }

  private static void verifySurvivor(Path file, long cut, List<CrashCheck.Change> changes, List<CrashCheck.Forced> forced, boolean lazy,
      String context) throws IOException {
    CrashCheck.Forced last = null;
    for (CrashCheck.Forced force : forced) {
      if (force.event() <= cut) {
        last = force;
      }
    }
    if (last == null) {
      throw new IllegalStateException("no force before cut " + cut);
    }
    List<CrashCheck.Change> since = new ArrayList<>();
    for (CrashCheck.Change change : changes) {
      if (change.startEvent() >= last.event() && change.startEvent() < cut) {
        since.add(change);
      }
    }
    boolean dirty;
    try (QcowFile image = QcowFile.open(file, OpenOptions.readOnlyDefaults())) {
      dirty = image.info().qcow2().dirty();
      CrashCheck.assertContent(image, last, since, context + "\nbefore any repair");
    } catch (IOException | RuntimeException e) {
      throw new AssertionError(context + "\nthe survivor does not open or read: " + e, e);
    }
    if (lazy && dirty) {
      QemuTools.Result repair = WriteTesting.check(file, "-r", "all");
      QemuTools.Result after = WriteTesting.check(file);
      if (after.exitCode() != 0) {
        fail(context + "\nqemu-img check -r all did not leave the dirty survivor clean:\n" + repair.describe()
            + "\nthen:\n" + after.describe());
      }
      try (QcowFile image = QcowFile.open(file, OpenOptions.readOnlyDefaults())) {
        CrashCheck.assertContent(image, last, since, context + "\nafter qemu-img check -r all");
      }
      return;
    }
    if (dirty) {
      fail(context + "\nthe survivor of an image without lazy refcounts is marked dirty");
    }
    QemuTools.Result check = WriteTesting.check(file);
    if (check.exitCode() != 0 && check.exitCode() != 3) {
      fail(context + "\nqemu-img check finds corruption in the survivor (only leaks are allowed):\n" + check.describe());
    }
  }

  // ---------------------------------------------------------------- the workload

  private static long workload(FaultyStorage storage, CreateOptions options, Path overlayPath, byte[] initial,
      Random random, List<CrashCheck.Change> changes, List<CrashCheck.Forced> forced, List<String> history) throws IOException {
    DiskModel model = new DiskModel(initial);
    history.add("create " + options);
    QcowFile disk = QcowFile.create(storage, overlayPath, options);
    long created = storage.eventCount();
    forced.add(new CrashCheck.Forced(created, model.snapshot()));
    int clusterSize = options.clusterSize();
    int operations = WriteTesting.longRun() ? 120 : 50;
    try {
      for (int step = 0; step < operations; step++) {
        long start = storage.eventCount();
        long size = model.size();
        long offset = random.nextBoolean() ? random.nextLong(size / clusterSize) * clusterSize : random.nextLong(size - 1);
        long length = Math.min(size - offset, 1 + random.nextInt(random.nextBoolean() ? 8192 : 3 * clusterSize + 70000));
        int choice = random.nextInt(100);
        String description;
        byte[] after = null;
        if (choice < 40) {
          byte[] data = WriteTesting.data(random, (int) length);
          description = "write " + offset + " +" + length;
          disk.writeFully(ByteBuffer.wrap(data), offset);
          after = data;
        } else if (choice < 50) {
          description = "writeZeroes " + offset + " +" + length;
          disk.writeZeroes(offset, length);
          after = new byte[(int) length];
        } else if (choice < 55) {
          description = "writeZeroesUnmap " + offset + " +" + length;
          disk.writeZeroesUnmap(offset, length);
          after = new byte[(int) length];
        } else if (choice < 65) {
          description = "discard " + offset + " +" + length;
          long[] zeroed = Discards.zeroedRange(disk, offset, length);
          disk.discard(offset, length);
          // Only whole clusters read as zeros after it; the partial ones keep their bytes.
          offset = zeroed[0];
          after = zeroed[1] > zeroed[0] ? new byte[(int) (zeroed[1] - zeroed[0])] : null;
        } else if (choice < 74) {
          description = "flush";
          disk.flush();
        } else if (choice < 86) {
          boolean metadata = random.nextBoolean();
          description = "force(" + metadata + ")";
          disk.force(metadata);
        } else if (choice < 89) {
          description = "allocate " + offset + " +" + length;
          disk.allocate(offset, length);
        } else if (choice < 92 && size < 2 * SIZE) {
          long newSize = size + clusterSize * (1L + random.nextInt(64));
          description = "resize " + newSize;
          disk.resize(newSize);
          offset = size;
          after = new byte[(int) (newSize - size)];
          model.resize(newSize);
        } else if (choice < 97) {
          description = "close and reopen";
          disk.close();
          disk = QcowFile.open(storage.reopen(false), overlayPath, OpenOptions.readWriteDefaults());
        } else {
          description = "read " + offset + " +" + length;
          model.assertReads(disk, offset, (int) length, "read during the workload");
        }
        long end = storage.eventCount();
        history.add(description + "  [events " + start + ".." + end + ")");
        if (after != null) {
          if (!description.startsWith("resize")) {
            model.write(offset, after);
          }
          changes.add(new CrashCheck.Change(description, start, end, offset, after));
        }
        if (description.startsWith("force")) {
          forced.add(new CrashCheck.Forced(end, model.snapshot()));
        }
      }
      long start = storage.eventCount();
      disk.close();
      history.add("close  [events " + start + ".." + storage.eventCount() + ")");
      disk = null;
    } finally {
      if (disk != null) {
        disk.close();
      }
    }
    return created;
  }
}
