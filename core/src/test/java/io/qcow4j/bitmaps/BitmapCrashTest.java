package io.qcow4j.bitmaps;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.disk.DirtyBitmap;
import io.qcow4j.disk.DirtyRange;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.testing.FaultyStorage;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Power cuts during a read-write session with bitmaps, its store at close included (invariant 10):
 * every survivor passes qemu-img check (leaks allowed) and opens in qemu-img info, and each bitmap
 * is either in use (never trusted) or consistent with exactly the bits of the session's writes.
 */
class BitmapCrashTest {
  private static final long MIB = 1 << 20;
  @TempDir Path dir;

  @Test
  void everySurvivorIsCheckCleanAndNoBitmapLies() throws IOException {
    QemuTools tools = QemuTools.in(dir);
    tools.img("create", "-q", "-f", "qcow2", "img.qcow2", "16M");
    tools.img("bitmap", "--add", "img.qcow2", "b0");
    tools.img("bitmap", "--add", "-g", "4k", "--disable", "img.qcow2", "off");
    tools.io("-c", "write 1M 4k", "img.qcow2");
    byte[] initial = Files.readAllBytes(dir.resolve("img.qcow2"));
    FaultyStorage storage = new FaultyStorage("img.qcow2", initial);
    try (QcowFile file = QcowFile.open(storage, null, OpenOptions.readWriteDefaults())) {
      file.write(ByteBuffer.allocate(4096), 3 * MIB);
      file.writeZeroes(8 * MIB, 128 * 1024);
      file.flush();
      file.discard(12 * MIB, 64 * 1024);
      file.addBitmap("new", 0, true);
      file.write(ByteBuffer.allocate(512), 14 * MIB);
    }
    List<DirtyRange> expectedB0 = List.of(new DirtyRange(MIB, 65536), new DirtyRange(3 * MIB, 65536),
        new DirtyRange(8 * MIB, 131072), new DirtyRange(12 * MIB, 65536), new DirtyRange(14 * MIB, 65536));
    List<DirtyRange> expectedOff = List.of();
    long events = storage.eventCount();
    FaultyStorage.Replay replay = storage.replay();
    long seed = System.nanoTime();
    Random random = new Random(seed);
    int survivors = 0;
    int inUse = 0;
    int consistentB0 = 0;
    java.util.List<Long> cuts = new java.util.ArrayList<>();
    for (long cut = 0; cut < events; cut += Math.max(1, events / 40)) {
      cuts.add(cut);
    }
    cuts.add(events);
    for (long cut : cuts) {
      byte[] survivor = replay.survivorAt(cut, random, random.nextDouble(), FaultyStorage.Tearing.NONE);
      Path copy = dir.resolve("cut.qcow2");
      Files.write(copy, survivor);
      String context = "seed " + seed + " cut " + cut + " of " + events;
      QemuTools.Result check = tools.run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "check", "cut.qcow2");
      assertThat(check.exitCode()).as(context + "\n" + check.stdout() + check.stderr()).isIn(0, 3);
      QemuTools.Result info = tools.run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "info", "cut.qcow2");
      assertThat(info.exitCode()).as(context + "\n" + info.stderr()).isZero();
      try (QcowFile file = QcowFile.open(copy, OpenOptions.readOnlyDefaults())) {
        for (DirtyBitmap bitmap : file.dirtyBitmaps()) {
          if (!bitmap.consistent()) {
            inUse++;
            continue;
          }
          List<DirtyRange> ranges = file.dirtyRanges(bitmap.name(), 0, 16 * MIB);
          switch (bitmap.name()) {
            case "b0" -> assertThat(ranges).as(context).isIn(expectedB0, List.of(new DirtyRange(MIB, 65536)));
            case "off" -> assertThat(ranges).as(context).isEqualTo(expectedOff);
            case "new" -> assertThat(ranges).as(context).containsExactly(new DirtyRange(14 * MIB, 65536));
            default -> throw new AssertionError(context + ": unexpected bitmap " + bitmap);
          }
          if (bitmap.name().equals("b0")) {
            consistentB0 += ranges.equals(expectedB0) ? 1 : 0;
          }
        }
      }
      survivors++;
    }
    assertThat(survivors).isGreaterThan(10);
    // the cuts fell both inside the session (bitmaps in use) and after its store
    assertThat(inUse).isPositive();
    assertThat(consistentB0).isPositive();
    Files.write(dir.resolve("final.qcow2"), storage.content());
    assertThat(tools.img("info", "final.qcow2").stdout()).doesNotContain("in-use").contains("new");
  }
}
