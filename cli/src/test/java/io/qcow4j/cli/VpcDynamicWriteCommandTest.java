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
 * Dynamic VHDs (-f vpc / -O vpc, the default subformat, with and without force_size): create and
 * convert make the file qemu-img makes, block for block, but for the footers' timestamp, checksum
 * and UUID; the converted image compares identical to its source.
 */
class VpcDynamicWriteCommandTest {
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {"subformat=dynamic|64M", "force_size=on|64M", "subformat=dynamic|1000001",
      "force_size=on|1000001", "subformat=dynamic|1G"})
  void createMakesTheFileQemuImgMakes(String options, String size) throws IOException {
    SideBySide runs = new SideBySide();
    runs.run("qemu-img", "create", "-f", "vpc", "-o", options, "@/disk.vpc", size).same();
    assertSameBesidesFooters(runs.ours.resolve("disk.vpc"), runs.theirs.resolve("disk.vpc"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"subformat=dynamic", "force_size=on"})
  void convertWritesTheBlocksQemuImgWrites(String options) throws IOException {
    Path dir = TestImages.scratch();
    Path source = dir.resolve("source.qed");
    Qemu.check("qemu-img", "create", "-q", "-f", "qed", source.toString(), "30M");
    Qemu.io(source, "qed", "write -P 0x5a 1M 64k", "write -P 0x11 5M 3M", "write -z 12M 1M",
        "write -P 0x22 30719k 1k");
    Path theirs = dir.resolve("theirs.vhd");
    Path ours = dir.resolve("ours.vhd");
    Qemu.check("qemu-img", "convert", "-O", "vpc", "-o", options, source.toString(), theirs.toString());
    Cli.Result converted = Cli.run("convert", "-O", "vpc", "-o", options, source.toString(), ours.toString());
    assertThat(converted.exitCode()).as(converted.err()).isZero();
    assertSameBesidesFooters(ours, theirs);
    assertThat(Qemu.check("qemu-img", "compare", "-f", "qed", "-F", "vpc", source.toString(), ours.toString()))
        .endsWith("Images are identical.\n");
    assertThat(Qemu.check("qemu-img", "info", ours.toString())).contains("file format: vpc\n");
  }

  /** The two files are the same length and the same bytes, but for each footer's timestamp, checksum and UUID. */
  private static void assertSameBesidesFooters(Path ours, Path theirs) throws IOException {
    byte[] mine = Files.readAllBytes(ours);
    byte[] expected = Files.readAllBytes(theirs);
    assertThat(mine.length).isEqualTo(expected.length);
    for (int footer : new int[] {0, mine.length - 512}) {
      for (byte[] bytes : new byte[][] {mine, expected}) {
        Arrays.fill(bytes, footer + 24, footer + 28, (byte) 0);
        Arrays.fill(bytes, footer + 64, footer + 84, (byte) 0);
      }
    }
    assertThat(Arrays.mismatch(mine, expected)).as("first differing byte").isEqualTo(-1);
  }
}
