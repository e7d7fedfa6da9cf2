package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Convert copies the data a source keeps byte for byte in a local file without a buffer of its own
 * (copy_file_range into a raw target on the same file system, a write from the source's mapping
 * otherwise): the output is the file qemu-img writes, byte for byte and with the same holes, from
 * raw, qcow2, vmdk and vhdx sources, with zero runs inside data left out as -S says, into a raw or
 * qcow2 target in the source's directory and on another file system (/dev/shm, where the kernel
 * does not copy across and the mapped write is what runs).
 */
class ConvertWithoutBuffersTest {
  private static final int MIB = 1 << 20;
  @TempDir static Path dir;

  static Stream<Arguments> conversions() {
    Stream.Builder<Arguments> all = Stream.builder();
    for (String format : new String[] {"raw", "qcow2", "vmdk", "vhdx"}) {
      for (String output : new String[] {"raw", "qcow2"}) {
        for (String sparse : new String[] {"4k", "0", "64k"}) {
          all.add(Arguments.of(format, output, sparse));
        }
      }
    }
    return all.build();
  }

  /**
   * 12 MiB: random data, text, a hole, a data block of zeros, then data with zero runs of 2 KiB
   * (shorter than -S 4k, written), 8 KiB (left out) and 256 KiB (left out even with -S 64k).
   */
  private static synchronized Path mixed() throws IOException {
    Path raw = dir.resolve("mixed.raw");
    if (Files.exists(raw)) {
      return raw;
    }
    Random random = new Random(13);
    byte[] block = new byte[MIB];
    try (FileChannel channel = FileChannel.open(raw, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      for (int i = 0; i < 12; i++) {
        switch (i % 6) {
          case 0 -> random.nextBytes(block);
          case 1 -> {
            byte[] text = "a line of text with words that repeat, 4711\n".getBytes();
            for (int at = 0; at < block.length; at++) {
              block[at] = text[at % text.length];
            }
          }
          case 2 -> {
            continue;
          }
          case 3 -> java.util.Arrays.fill(block, (byte) 0);
          default -> {
            random.nextBytes(block);
            java.util.Arrays.fill(block, 4096, 4096 + 2048, (byte) 0);
            java.util.Arrays.fill(block, 65536 + 512, 65536 + 512 + 8192, (byte) 0);
            java.util.Arrays.fill(block, 3 * 65536, 3 * 65536 + 262144, (byte) 0);
          }
        }
        channel.write(ByteBuffer.wrap(block), (long) i * MIB);
      }
    }
    for (String format : new String[] {"qcow2", "vmdk", "vhdx"}) {
      Qemu.check("qemu-img", "convert", "-f", "raw", "-O", format, raw.toString(),
          dir.resolve("mixed." + format).toString());
    }
    return raw;
  }

  @ParameterizedTest(name = "{0} -> {1}, -S {2}")
  @MethodSource("conversions")
  void sameFileAsQemuImgOnTheSameFileSystem(String format, String output, String sparse) throws IOException {
    mixed();
    assertSameAsQemuImg(format, output, sparse, dir.resolve("out-" + format + "-" + output + "-" + sparse));
  }

  @ParameterizedTest(name = "{0} -> {1}, -S {2}")
  @MethodSource("conversions")
  void sameFileAsQemuImgOnAnotherFileSystem(String format, String output, String sparse) throws IOException {
    mixed();
    Path shm = Path.of("/dev/shm");
    assertThat(shm).as("a tmpfs at /dev/shm, another file system than the temporary directory").isDirectory();
    Path target = Files.createTempDirectory(shm, "qcow4j-convert");
    try {
      assertSameAsQemuImg(format, output, sparse, target);
    } finally {
      try (Stream<Path> files = Files.list(target)) {
        for (Path file : files.toList()) {
          Files.delete(file);
        }
      }
      Files.delete(target);
    }
  }

  private static void assertSameAsQemuImg(String format, String output, String sparse, Path target) throws IOException {
    Files.createDirectories(target);
    Path source = dir.resolve("mixed." + format);
    Path ours = target.resolve("ours." + output);
    Path theirs = target.resolve("theirs." + output);
    Cli.Result result = Cli.run("convert", "-f", format, "-O", output, "-S", sparse, source.toString(), ours.toString());
    assertThat(result.exitCode()).as(result.err()).isZero();
    Qemu.check("qemu-img", "convert", "-f", format, "-O", output, "-S", sparse, source.toString(), theirs.toString());
    assertThat(Files.mismatch(ours, theirs)).as("the bytes of qemu-img's output").isEqualTo(-1L);
    // the same holes: what qemu-img map reports of the two files (raw: SEEK_DATA and SEEK_HOLE)
    assertThat(Qemu.check("qemu-img", "map", "--output=json", "-f", output, ours.toString()))
        .isEqualTo(Qemu.check("qemu-img", "map", "--output=json", "-f", output, theirs.toString()));
    assertThat(Qemu.check("qemu-img", "compare", "-f", format, "-F", output, source.toString(), ours.toString()))
        .contains("Images are identical");
    if (output.equals("qcow2")) {
      Qemu.check("qemu-img", "check", ours.toString());
    }
  }
}
