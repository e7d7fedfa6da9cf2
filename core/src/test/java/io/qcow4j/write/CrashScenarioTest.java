package io.qcow4j.write;

import static org.junit.jupiter.api.Assertions.fail;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.storage.MemoryStorage;
import io.qcow4j.testing.FaultyStorage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Small crash scenarios checked exhaustively: after a force, a few operations run and power is cut
 * at every event after that force, keeping every subset of the changes since the last barrier (or
 * many random subsets when there are too many). Each survivor must read every forced byte, or
 * what a later operation wrote there: never older data brought back nor another cluster's bytes.
 */
class CrashScenarioTest {
  private static final long SIZE = 4 << 20;
  private static final int MAX_EXHAUSTIVE_CHANGES = 12;

  @TempDir Path dir;

  /** Steps run before the final force, then steps in the window the cuts fall into. */
  interface Steps {
    void run(QcowFile disk, DiskModel model, List<CrashCheck.Change> changes, FaultyStorage storage) throws IOException;
  }

  record Scenario(String name, CreateOptions options, Steps beforeForce, Steps window) {
    @Override
    public String toString() {
      return name;
    }
  }

  private static void write(QcowFile disk, DiskModel model, List<CrashCheck.Change> changes, FaultyStorage storage,
      long offset, int length, int value) throws IOException {
    byte[] data = new byte[length];
    Arrays.fill(data, (byte) value);
    long start = storage.eventCount();
    disk.writeFully(ByteBuffer.wrap(data), offset);
    model.write(offset, data);
    changes.add(new CrashCheck.Change("write " + offset + " +" + length + " of 0x" + Integer.toHexString(value),
        start, storage.eventCount(), offset, data));
  }

  private static void zero(QcowFile disk, DiskModel model, List<CrashCheck.Change> changes, FaultyStorage storage,
      String how, long offset, int length) throws IOException {
    long start = storage.eventCount();
    switch (how) {
      case "writeZeroes" -> disk.writeZeroes(offset, length);
      case "writeZeroesUnmap" -> disk.writeZeroesUnmap(offset, length);
      case "discard" -> disk.discard(offset, length);
      default -> throw new IllegalArgumentException(how);
    }
    model.zero(offset, length);
    changes.add(new CrashCheck.Change(how + " " + offset + " +" + length, start, storage.eventCount(), offset,
        new byte[length]));
  }

  /** Fails the scenario when the guest cluster at {@code guestOffset} is not at {@code hostOffset}: no reuse took place. */
  private static void expectHost(QcowFile disk, long guestOffset, long hostOffset) throws IOException {
    long actual = disk.blockStatus(guestOffset, 4096).hostOffset();
    if (actual != hostOffset) {
      fail("guest offset 0x" + Long.toHexString(guestOffset) + " went to host offset 0x" + Long.toHexString(actual)
          + ", not to the freed cluster at 0x" + Long.toHexString(hostOffset));
    }
  }

  static Stream<Arguments> scenarios() {
    CreateOptions small = CreateOptions.of(SIZE).withClusterSize(4096);
    return Stream.of(
        // A zero cluster keeps its host cluster; a partial write there rewrites it in place.
        new Scenario("rewrite of a zero cluster that kept its host cluster", small,
            (disk, model, changes, storage) -> {
              write(disk, model, changes, storage, 0, 4096, 0xaa);
              disk.force(false);
              zero(disk, model, changes, storage, "writeZeroes", 0, 4096);
            },
            (disk, model, changes, storage) -> {
              write(disk, model, changes, storage, 100, 200, 0xbb);
              disk.flush();
            }),
        // With extended L2 a zeroed subcluster keeps the cluster's host range; a write there reuses it.
        new Scenario("rewrite of a zeroed subcluster", CreateOptions.of(SIZE).withClusterSize(32768).withExtendedL2(true),
            (disk, model, changes, storage) -> {
              write(disk, model, changes, storage, 0, 32768, 0xaa);
              disk.force(false);
              zero(disk, model, changes, storage, "writeZeroes", 0, 1024);
            },
            (disk, model, changes, storage) -> {
              write(disk, model, changes, storage, 100, 200, 0xbb);
              disk.flush();
            }),
        // A discarded cluster is released at the flush, then reused for another guest cluster.
        new Scenario("reuse of a discarded cluster", small,
            (disk, model, changes, storage) -> write(disk, model, changes, storage, 0, 4096, 0xaa),
            (disk, model, changes, storage) -> {
              zero(disk, model, changes, storage, "discard", 0, 4096);
              disk.flush();
              write(disk, model, changes, storage, 1 << 20, 100, 0xbb);
              disk.flush();
            }),
        // QEMU's allocator hands a discarded cluster out at once; ours does too, after the flush
        // the allocating write makes first (nothing on disk may point at the cluster when it is reused).
        new Scenario("reuse of a discarded cluster without a flush between", small,
            (disk, model, changes, storage) -> write(disk, model, changes, storage, 0, 8192, 0xaa),
            (disk, model, changes, storage) -> {
              zero(disk, model, changes, storage, "discard", 0, 4096);
              write(disk, model, changes, storage, 1 << 20, 4096, 0xbb);
              expectHost(disk, 1 << 20, disk.blockStatus(4096, 4096).hostOffset() - 4096);
              write(disk, model, changes, storage, 4096, 100, 0xcc);
              disk.flush();
            }),
        new Scenario("reuse of a discarded cluster without a flush between, lazy refcounts", small.withLazyRefcounts(true),
            (disk, model, changes, storage) -> write(disk, model, changes, storage, 0, 8192, 0xaa),
            (disk, model, changes, storage) -> {
              zero(disk, model, changes, storage, "discard", 0, 4096);
              write(disk, model, changes, storage, 1 << 20, 4096, 0xbb);
              expectHost(disk, 1 << 20, disk.blockStatus(4096, 4096).hostOffset() - 4096);
              disk.flush();
            }),
        new Scenario("reuse of discarded preallocated clusters, as iotest 250",
            small.withPreallocation(io.qcow4j.disk.Preallocation.METADATA),
            (disk, model, changes, storage) -> { },
            (disk, model, changes, storage) -> {
              long firstHost = disk.blockStatus(0, 4096).hostOffset();
              long lastHost = disk.blockStatus(SIZE - 8192, 4096).hostOffset();
              zero(disk, model, changes, storage, "discard", 0, 8192);
              zero(disk, model, changes, storage, "discard", SIZE - 8192, 8192);
              write(disk, model, changes, storage, SIZE - 8192, 8192, 0xbb);
              expectHost(disk, SIZE - 8192, firstHost);
              write(disk, model, changes, storage, 0, 8192, 0xcc);
              expectHost(disk, 0, lastHost);
              disk.flush();
            }),
        new Scenario("reuse of a discarded cluster, lazy refcounts", small.withLazyRefcounts(true),
            (disk, model, changes, storage) -> write(disk, model, changes, storage, 0, 4096, 0xaa),
            (disk, model, changes, storage) -> {
              zero(disk, model, changes, storage, "discard", 0, 4096);
              disk.flush();
              write(disk, model, changes, storage, 1 << 20, 100, 0xbb);
              disk.flush();
            }),
        new Scenario("allocating writes, lazy refcounts", small.withLazyRefcounts(true),
            (disk, model, changes, storage) -> write(disk, model, changes, storage, 0, 4096, 0xaa),
            (disk, model, changes, storage) -> {
              write(disk, model, changes, storage, 8192, 5000, 0xbb);
              write(disk, model, changes, storage, 2 << 20, 100, 0xcc);
              disk.flush();
            }),
        new Scenario("allocating writes across a new L2 table", CreateOptions.of(SIZE).withClusterSize(512),
            (disk, model, changes, storage) -> write(disk, model, changes, storage, 0, 512, 0xaa),
            (disk, model, changes, storage) -> {
              write(disk, model, changes, storage, 1 << 20, 700, 0xbb);
              disk.flush();
            }),
        new Scenario("writeZeroesUnmap then reuse", small,
            (disk, model, changes, storage) -> write(disk, model, changes, storage, 0, 8192, 0xaa),
            (disk, model, changes, storage) -> {
              zero(disk, model, changes, storage, "writeZeroesUnmap", 0, 8192);
              disk.flush();
              write(disk, model, changes, storage, 3 << 20, 8192, 0xbb);
              disk.flush();
            }),
        new Scenario("resize moving the L1 table, lazy refcounts",
            CreateOptions.of(SIZE).withClusterSize(512).withLazyRefcounts(true),
            (disk, model, changes, storage) -> write(disk, model, changes, storage, 0, 512, 0xaa),
            (disk, model, changes, storage) -> {
              write(disk, model, changes, storage, 4096, 512, 0xcc);
              long start = storage.eventCount();
              disk.resize(2 * SIZE);
              model.resize(2 * SIZE);
              changes.add(new CrashCheck.Change("resize " + 2 * SIZE, start, storage.eventCount(), SIZE,
                  new byte[(int) SIZE]));
              disk.flush();
            }),
        new Scenario("resize moving the L1 table", CreateOptions.of(SIZE).withClusterSize(512),
            (disk, model, changes, storage) -> write(disk, model, changes, storage, 0, 512, 0xaa),
            (disk, model, changes, storage) -> {
              long start = storage.eventCount();
              disk.resize(2 * SIZE);
              model.resize(2 * SIZE);
              changes.add(new CrashCheck.Change("resize " + 2 * SIZE, start, storage.eventCount(), SIZE,
                  new byte[(int) SIZE]));
              write(disk, model, changes, storage, 2 * SIZE - 1000, 1000, 0xbb);
              disk.flush();
            }))
        .map(Arguments::of);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("scenarios")
  void everySubsetOfTheLastChangesIsConsistent(Scenario scenario) throws IOException {
    FaultyStorage storage = new FaultyStorage("scenario.qcow2");
    DiskModel model = new DiskModel(SIZE);
    List<CrashCheck.Change> before = new ArrayList<>();
    List<CrashCheck.Change> window = new ArrayList<>();
    CrashCheck.Forced forced;
    try (QcowFile disk = QcowFile.create(storage, scenario.options())) {
      scenario.beforeForce().run(disk, model, before, storage);
      disk.force(false);
      forced = new CrashCheck.Forced(storage.eventCount(), model.snapshot());
      scenario.window().run(disk, model, window, storage);
    }
    long end = storage.eventCount();
    FaultyStorage.Replay replay = storage.replay();
    Random random = new Random(scenario.name().hashCode());
    int survivors = 0;
    for (long cutPoint = forced.event(); cutPoint <= end; cutPoint++) {
      long cut = cutPoint;
      List<CrashCheck.Change> since = window.stream().filter(change -> change.startEvent() < cut).toList();
      int changesSince = replay.changesSinceBarrier(cut);
      boolean exhaustive = changesSince <= (WriteTesting.longRun() ? MAX_EXHAUSTIVE_CHANGES : 10);
      int subsets = exhaustive ? 1 << changesSince : WriteTesting.longRun() ? 4096 : 512;
      for (int subset = 0; subset < subsets; subset++) {
        long mask = exhaustive ? subset : random.nextLong();
        byte[] survivor = replay.survivorAt(cut, index -> (mask >>> (index % 64) & 1) != 0);
        survivors++;
        String context = scenario.name() + ": cut at event " + cut + " (force done at " + forced.event()
            + ", end " + end + "), kept changes since the last barrier (bit per change, " + changesSince + " changes): "
            + Long.toBinaryString(mask) + "\nwindow: " + window.stream().map(c -> c.description() + " [events "
            + c.startEvent() + ".." + c.endEvent() + ")").toList();
        try (QcowFile image = QcowFile.open(new MemoryStorage("survivor", survivor, true), null,
            OpenOptions.readOnlyDefaults())) {
          CrashCheck.assertContent(image, forced, since, context);
        } catch (IOException | RuntimeException e) {
          Path file = dir.resolve("failed-survivor.qcow2");
          Files.write(file, survivor);
          throw new AssertionError(context + "\nthe survivor (kept in " + file + ") does not open or read: " + e, e);
        } catch (AssertionError e) {
          Path file = dir.resolve("failed-survivor.qcow2");
          Files.write(file, survivor);
          throw e;
        }
      }
    }
    if (survivors == 0) {
      fail(scenario.name() + ": no cut point after the force");
    }
  }
}
