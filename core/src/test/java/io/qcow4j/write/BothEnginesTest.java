package io.qcow4j.write;

import io.qcow4j.testing.Discards;
import io.qcow4j.disk.Compat;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Both engines on one file: we write, qemu-io writes (write -P, write -z, discard), we write again,
 * for two rounds; then qemu-img check is clean and the image equals the model.
 */
class BothEnginesTest {
  private static final long SIZE = 8 << 20;

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
        new Shape("cluster=512,refcount_bits=1", o -> o.withClusterSize(512).withRefcountBits(1), false),
        new Shape("compat=0.10", o -> o.withCompat(Compat.V2), false),
        new Shape("lazy_refcounts", o -> o.withLazyRefcounts(true), false),
        new Shape("extended_l2", o -> o.withExtendedL2(true), false),
        new Shape("data_file", o -> o.withDataFile("image.data", false), false),
        new Shape("backing=qcow2", o -> o, true),
        new Shape("backing=qcow2,extended_l2,cluster=32k", o -> o.withExtendedL2(true).withClusterSize(32768), true));
    return shapes.stream().flatMap(shape -> WriteTesting.seeds("both " + shape.name(), 1, 5).stream()
        .map(seed -> Arguments.of(shape, seed)));
  }

  @ParameterizedTest(name = "{0} seed={1}")
  @MethodSource("runs")
  void weWriteQemuWritesWeWriteAgain(Shape shape, long seed) throws IOException {
    Random random = new Random(seed);
    String context = shape.name() + " seed=" + seed + " (replay with -DQCOW4J_SEED=" + seed + " -Dtest=BothEnginesTest)";
    Path image = dir.resolve("image.qcow2");
    CreateOptions options = shape.options().apply(CreateOptions.of(SIZE));
    if (options.dataFile() != null) {
      // named absolutely: a relative data file name is opened from the working directory (QEMU's way)
      options = options.withDataFile(dir.resolve(options.dataFile()).toString(), options.dataFileRaw());
    }
    DiskModel model = new DiskModel(SIZE);
    QemuTools tools = QemuTools.in(dir);
    if (shape.backing()) {
      Path base = dir.resolve("base.qcow2");
      tools.img("create", "-q", "-f", "qcow2", base, SIZE);
      tools.io("-c", "write -P 0x3c 0 3M", "-c", "write -P 0x4d 5M 2M", "-c", "write -z 1M 64k", base);
      byte[] pattern = new byte[3 << 20];
      java.util.Arrays.fill(pattern, (byte) 0x3c);
      model.write(0, pattern);
      model.zero(1 << 20, 65536);
      byte[] second = new byte[2 << 20];
      java.util.Arrays.fill(second, (byte) 0x4d);
      model.write(5 << 20, second);
      options = options.withBacking("base.qcow2", ImageFormat.QCOW2);
    }
    int clusterSize = options.clusterSize();
    boolean discardZeroes = !shape.backing() || options.compat() != Compat.V2;
    List<String> history = new ArrayList<>();
    try {
      QcowFile.create(image, options).close();
      for (int round = 0; round < 2; round++) {
        ourWrites(image, model, random, clusterSize, history);
        qemuWrites(tools, image, model, random, clusterSize, discardZeroes, history);
      }
      ourWrites(image, model, random, clusterSize, history);
      WriteTesting.assertCheckClean(image, context);
      WriteTesting.assertSameAsModel(image, model, context);
      try (QcowFile reopened = QcowFile.open(image, OpenOptions.readOnlyDefaults())) {
        model.assertWholeDisk(reopened, context + ": our read of the final image");
      }
    } catch (AssertionError | IOException e) {
      throw new AssertionError(context + "\nhistory:\n  " + String.join("\n  ", history) + "\n" + e, e);
    }
  }

  private static long[] range(Random random, long size, int clusterSize, int maxLength) {
    long offset = random.nextBoolean() ? random.nextLong(size / clusterSize) * clusterSize : random.nextLong(size - 1);
    long length = Math.min(size - offset, 1 + random.nextInt(maxLength));
    return new long[] {offset, length};
  }

  private static void ourWrites(Path image, DiskModel model, Random random, int clusterSize, List<String> history)
      throws IOException {
    try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      for (int index = 0; index < 20; index++) {
        long[] range = range(random, model.size(), clusterSize, 200 * 1024);
        int kind = random.nextInt(10);
        if (kind < 6) {
          byte[] data = WriteTesting.data(random, (int) range[1]);
          history.add("we write " + range[0] + " +" + range[1]);
          disk.writeFully(ByteBuffer.wrap(data), range[0]);
          model.write(range[0], data);
        } else if (kind < 8) {
          history.add("we writeZeroes " + range[0] + " +" + range[1]);
          disk.writeZeroes(range[0], range[1]);
          model.zero(range[0], range[1]);
        } else {
          history.add("we discard " + range[0] + " +" + range[1]);
          long[] zeroed = Discards.zeroedRange(disk, range[0], range[1]);
          disk.discard(range[0], range[1]);
          model.zero(zeroed[0], zeroed[1] - zeroed[0]);
        }
      }
      model.assertWholeDisk(disk, "our reads after our writes");
    }
  }

  private static void qemuWrites(QemuTools tools, Path image, DiskModel model, Random random, int clusterSize,
      boolean discardZeroes, List<String> history) {
    List<Object> args = new ArrayList<>();
    args.add("-f");
    args.add("qcow2");
    for (int index = 0; index < 16; index++) {
      long[] range = range(random, model.size(), clusterSize, 200 * 1024);
      int kind = random.nextInt(10);
      String command;
      if (kind < 6) {
        int pattern = 1 + random.nextInt(255);
        command = "write -P " + pattern + " " + range[0] + " " + range[1];
        byte[] data = new byte[(int) range[1]];
        java.util.Arrays.fill(data, (byte) pattern);
        model.write(range[0], data);
      } else if (kind < 8 || !discardZeroes) {
        command = "write -z " + (random.nextBoolean() ? "-u " : "") + range[0] + " " + range[1];
        model.zero(range[0], range[1]);
      } else {
        // Whole clusters only: QEMU ignores the partial clusters of a discard.
        long start = range[0] / clusterSize * clusterSize;
        long clusters = 1 + random.nextInt(8);
        long length = Math.min(model.size() - start, clusters * clusterSize);
        command = "discard " + start + " " + length;
        model.zero(start, length);
      }
      history.add("qemu-io " + command);
      args.add("-c");
      args.add(command);
    }
    args.add(image);
    tools.io(args.toArray());
  }
}
