package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * VDI images (-f vdi / -O vdi, dynamic and static): create prints what qemu-img prints and makes
 * the file qemu-img makes, and convert writes the blocks qemu-img writes, in the same places, but
 * for the two random UUIDs; every image passes qemu-img check and compares identical to its source.
 */
class VdiWriteCommandTest {
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {"static=off|64M", "static=on|64M", "static=off|1000001", "static=on|1000001",
      "static=off|5000G", "static=maybe|1M"})
  void createMakesTheFileQemuImgMakes(String options, String size) throws IOException {
    SideBySide runs = new SideBySide();
    runs.run("qemu-img", "create", "-f", "vdi", "-o", options, "@/disk.vdi", size).same();
    Path theirs = runs.theirs.resolve("disk.vdi");
    if (Files.exists(theirs)) {
      assertSameBesidesUuids(runs.ours.resolve("disk.vdi"), theirs);
      assertThat(Qemu.check("qemu-img", "check", runs.ours.resolve("disk.vdi").toString()))
          .isEqualTo("No errors were found on the image.\n");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"static=off", "static=on"})
  void convertWritesTheBlocksQemuImgWrites(String options) throws IOException {
    Path dir = TestImages.scratch();
    Path source = dir.resolve("source.qcow2");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", source.toString(), "30M");
    Qemu.io(source, "qcow2", "write -P 0x5a 1M 64k", "write -P 0x11 5M 3M", "write -z 12M 1M",
        "write -P 0x22 30719k 1k", "write -P 0x23 20M 1");
    Path theirs = dir.resolve("theirs.vdi");
    Path ours = dir.resolve("ours.vdi");
    Qemu.check("qemu-img", "convert", "-O", "vdi", "-o", options, source.toString(), theirs.toString());
    Cli.Result converted = Cli.run("convert", "-O", "vdi", "-o", options, source.toString(), ours.toString());
    assertThat(converted.exitCode()).as(converted.err()).isZero();
    assertSameBesidesUuids(ours, theirs);
    assertThat(Qemu.check("qemu-img", "check", ours.toString())).isEqualTo("No errors were found on the image.\n");
    assertThat(Qemu.check("qemu-img", "compare", "-F", "vdi", source.toString(), ours.toString()))
        .isEqualTo("Images are identical.\n");
  }

  /** The same length and bytes but for the image and last-snapshot UUIDs at 0x188..0x1a8. */
  private static void assertSameBesidesUuids(Path ours, Path theirs) throws IOException {
    byte[] mine = Files.readAllBytes(ours);
    byte[] expected = Files.readAllBytes(theirs);
    assertThat(mine.length).isEqualTo(expected.length);
    Arrays.fill(mine, 0x188, 0x1a8, (byte) 0);
    Arrays.fill(expected, 0x188, 0x1a8, (byte) 0);
    assertThat(Arrays.mismatch(mine, expected)).as("first differing byte").isEqualTo(-1);
  }
}
