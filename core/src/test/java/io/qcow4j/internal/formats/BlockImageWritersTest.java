package io.qcow4j.internal.formats;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The writers of new VHD, VDI, VHDX and VMDK images driven as a library user may drive them:
 * random writes of any alignment, zero writes over written and unwritten ranges, reads between
 * them, flushes, against a byte model; qemu-img then reads the closed image as the model says
 * (and checks it where QEMU checks the format). The seed is printed.
 */
class BlockImageWritersTest {
  private static final int SIZE = 24 << 20;
  @TempDir Path dir;

  record Target(String name, ImageFormat format, CreateOptions options, boolean qemuChecks) {
    @Override
    public String toString() {
      return name;
    }
  }

  static Stream<Target> targets() {
    CreateOptions.Builder base = CreateOptions.builder(SIZE);
    return Stream.of(
        new Target("vpc-dynamic", ImageFormat.VPC, CreateOptions.builder(SIZE).vpc(false, true).build(), false),
        new Target("vdi-dynamic", ImageFormat.VDI, CreateOptions.builder(SIZE).vdi(false).build(), true),
        new Target("vdi-static", ImageFormat.VDI, CreateOptions.builder(SIZE).vdi(true).build(), true),
        new Target("vhdx-dynamic", ImageFormat.VHDX,
            CreateOptions.builder(SIZE).vhdx(false, 1 << 20, 1 << 20, true).build(), true),
        new Target("vhdx-fixed", ImageFormat.VHDX,
            CreateOptions.builder(SIZE).vhdx(true, 2 << 20, 1 << 20, false).build(), true),
        new Target("vmdk-sparse", ImageFormat.VMDK, base.vmdk(null, null, null, null, false).build(), true));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("targets")
  void randomWritesReadBackAsTheModelSays(Target target) throws IOException {
    long seed = new Random().nextLong();
    Random random = new Random(seed);
    byte[] model = new byte[SIZE];
    Path image = dir.resolve(target.name() + "." + target.format().id());
    try (DiskFile disk = DiskImages.create(image, target.format(), target.options())) {
      assertThat(disk.size()).isEqualTo(SIZE);
      for (int step = 0; step < 200; step++) {
        int length = 1 + random.nextInt(random.nextBoolean() ? 4096 : 3 << 20);
        int offset = random.nextInt(SIZE - length + 1);
        switch (random.nextInt(6)) {
          case 0, 1, 2 -> {
            byte[] data = new byte[length];
            random.nextBytes(data);
            disk.writeFully(ByteBuffer.wrap(data), offset);
            System.arraycopy(data, 0, model, offset, length);
          }
          case 3 -> {
            disk.writeZeroes(offset, length);
            Arrays.fill(model, offset, offset + length, (byte) 0);
          }
          case 4 -> {
            ByteBuffer back = ByteBuffer.allocate(length);
            disk.readFully(back, offset);
            assertThat(Arrays.mismatch(back.array(), Arrays.copyOfRange(model, offset, offset + length)))
                .as("seed %d, read at %d", seed, offset).isEqualTo(-1);
          }
          default -> disk.flush();
        }
      }
    }
    if (target.qemuChecks()) {
      assertThat(QemuTools.in(dir).img("check", image).stdout()).as("seed %d", seed)
          .isEqualTo("No errors were found on the image.\n");
    }
    Path raw = dir.resolve("image.raw");
    QemuTools.in(dir).img("convert", "-f", target.format().id(), "-O", "raw", image, raw);
    byte[] read = Arrays.copyOf(Files.readAllBytes(raw), SIZE);
    assertThat(Arrays.mismatch(read, model)).as("seed %d: first differing byte", seed).isEqualTo(-1);
  }

  @Test
  void aStreamOptimizedVmdkTakesItsGrainsInPiecesAndCompletesThemAtClose() throws IOException {
    Path image = dir.resolve("stream.vmdk");
    byte[] model = new byte[SIZE];
    Random random = new Random(7);
    try (DiskFile disk = DiskImages.create(image, ImageFormat.VMDK,
        CreateOptions.builder(SIZE).vmdk("streamOptimized", null, null, null, false).build())) {
      // grain by grain in 1000-byte pieces, the last grain left half written
      for (int offset = 0; offset < (5 << 20) + (32 << 10); offset += 1000) {
        byte[] data = new byte[1000];
        random.nextBytes(data);
        disk.writeFully(ByteBuffer.wrap(data), offset);
        System.arraycopy(data, 0, model, offset, 1000);
      }
      byte[] tail = new byte[4096];
      random.nextBytes(tail);
      disk.writeFully(ByteBuffer.wrap(tail), SIZE - 4096);
      System.arraycopy(tail, 0, model, SIZE - 4096, 4096);
    }
    assertThat(QemuTools.in(dir).img("check", image).stdout()).isEqualTo("No errors were found on the image.\n");
    Path raw = dir.resolve("stream.raw");
    QemuTools.in(dir).img("convert", "-f", "vmdk", "-O", "raw", image, raw);
    assertThat(Arrays.mismatch(Files.readAllBytes(raw), model)).isEqualTo(-1);
  }
}
