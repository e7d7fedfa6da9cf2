package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * An image whose bitmaps a program without bitmap support invalidated (the autoclear bit cleared,
 * the extension left): every command that opens it warns as QEMU's qcow2 driver does, for the
 * image and for a backing file, with QEMU's second line left without its newline.
 */
class InvalidatedBitmapsTest {
  /** The autoclear features field of a version 3 header. */
  private static final long AUTOCLEAR = 88;

  @Test
  void openingWarnsAsQemuDoes() throws IOException {
    Path scratch = TestImages.scratch();
    Path base = scratch.resolve("base.qcow2");
    Qemu.createQcow2(base, "16M");
    Qemu.check("qemu-img", "bitmap", "--add", base.toString(), "b0");
    try (RandomAccessFile file = new RandomAccessFile(base.toFile(), "rw")) {
      file.seek(AUTOCLEAR);
      long features = file.readLong();
      file.seek(AUTOCLEAR);
      file.writeLong(features & ~1L);
    }
    Path top = scratch.resolve("top.qcow2");
    Qemu.createQcow2(top, "16M", "-b", base.toString(), "-F", "qcow2");
    byte[] before = Files.readAllBytes(base);

    for (List<String> args : List.of(List.of("qemu-img", "info", base.toString()),
        List.of("qemu-img", "map", "--output=json", top.toString()),
        List.of("qemu-io", "-r", "-c", "read 0 512", base.toString()))) {
      Cli.Result theirs = Qemu.run(args.toArray(String[]::new));
      List<String> ours = args.get(0).equals("qemu-io")
          ? List.of("io", "-r", "-c", "read 0 512", base.toString()) : args.subList(1, args.size());
      Cli.Result result = Cli.run(ours.toArray(String[]::new));
      String tool = args.get(0) + ": ";
      assertThat(theirs.err()).as("qemu's warning").contains("a program lacking bitmap support");
      assertThat(result.err()).as(String.join(" ", args)).isEqualTo(theirs.err().replace(tool, "qcow4j: "));
      // qemu-io's second line holds timings
      assertThat(result.out().lines().findFirst()).isEqualTo(theirs.out().lines().findFirst());
      if (!args.get(0).equals("qemu-io")) {
        assertThat(result.out()).isEqualTo(theirs.out());
      }
      assertThat(result.exitCode()).isEqualTo(theirs.exitCode()).isZero();
    }
    assertThat(Files.readAllBytes(base)).as("read-only opens leave the image as it was").isEqualTo(before);
  }
}
