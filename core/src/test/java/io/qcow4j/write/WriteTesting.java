package io.qcow4j.write;

import static org.junit.jupiter.api.Assertions.fail;

import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Shared pieces of the write tests: run length, seeds, random data and the qemu-img verdicts. */
final class WriteTesting {
  private WriteTesting() {}

  /** Long campaigns run only with the system property or environment variable QCOW4J_LONG=1. */
  static boolean longRun() {
    String value = System.getProperty("QCOW4J_LONG", System.getenv("QCOW4J_LONG"));
    return value != null && !value.isEmpty() && !"0".equals(value) && !"false".equalsIgnoreCase(value);
  }

  /**
   * The seeds to run: QCOW4J_SEED alone when set (to replay a failure), otherwise {@code shortCount}
   * fixed seeds derived from {@code label}, or {@code longCount} fresh ones in a long run.
   */
  static List<Long> seeds(String label, int shortCount, int longCount) {
    String forced = System.getProperty("QCOW4J_SEED", System.getenv("QCOW4J_SEED"));
    List<Long> seeds = new ArrayList<>();
    if (forced != null && !forced.isEmpty()) {
      seeds.add(Long.decode(forced));
      return seeds;
    }
    Random source = longRun() ? new Random() : new Random(label.hashCode() * 0x9E3779B97F4A7C15L);
    int count = longRun() ? longCount : shortCount;
    for (int index = 0; index < count; index++) {
      seeds.add(source.nextLong());
    }
    return seeds;
  }

  /** Random bytes, zeros or a repeated byte, so that all-zero data written as data is covered too. */
  static byte[] data(Random random, int length) {
    byte[] data = new byte[length];
    int kind = random.nextInt(10);
    if (kind < 7) {
      random.nextBytes(data);
    } else if (kind < 8) {
      java.util.Arrays.fill(data, (byte) (1 + random.nextInt(255)));
    }
    return data;
  }

  /** qemu-img check's verdict on {@code image}; exit 0 is clean, 2 corrupt, 3 leaks only. */
  static QemuTools.Result check(Path image, String... extra) {
    Object[] args = new Object[extra.length + 1];
    System.arraycopy(extra, 0, args, 1, extra.length);
    args[0] = "check";
    Object[] all = new Object[args.length + 1];
    System.arraycopy(args, 0, all, 0, args.length);
    all[args.length] = image;
    return QemuTools.in(image.getParent()).run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", all);
  }

  /** Fails with qemu-img check's report unless it finds neither errors nor leaks. */
  static void assertCheckClean(Path image, String context) {
    QemuTools.Result result = check(image);
    if (result.exitCode() != 0) {
      fail(context + ": qemu-img check is not clean:\n" + result.describe());
    }
  }

  /** Fails unless qemu-img compare finds {@code image} identical to the model's raw image. */
  static void assertSameAsModel(Path image, DiskModel model, String context) throws IOException {
    Path raw = model.writeRaw(image.resolveSibling(image.getFileName() + ".model.raw"));
    assertSameAsRaw(image, "qcow2", raw, context);
  }

  /** Fails unless qemu-img compare finds {@code image} (of {@code format}) identical to the raw file. */
  static void assertSameAsRaw(Path image, String format, Path raw, String context) {
    QemuTools.Result result = QemuTools.in(image.getParent())
        .run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "compare", "-f", format, "-F", "raw", image, raw);
    if (result.exitCode() != 0) {
      fail(context + ": qemu-img compare says the image differs from the model:\n" + result.describe());
    }
  }
}
