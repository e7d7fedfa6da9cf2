package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.testing.UncachedFiles;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Fixed VHDs (-f vpc / -O vpc with subformat=fixed, with and without force_size, as Azure takes
 * them): create and convert print what qemu-img prints and make the file qemu-img makes, but for
 * the footer's timestamp and UUID.
 */
class VpcFixedWriteCommandTest {
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "subformat=fixed,force_size=on|64M", "subformat=fixed|64M", "subformat=fixed|1000001",
      "subformat=fixed,force_size=on|1000001", "subformat=fixed,force_size=on|2100G", "subformat=bogus|1M",
      "subformat=fixed,force_size=maybe|1M", "subformat=fixed,force_size=on|1G"})
  void createMakesTheFileQemuImgMakes(String options, String size) throws IOException {
    SideBySide runs = new SideBySide();
    runs.run("qemu-img", "create", "-f", "vpc", "-o", options, "@/disk.vpc", size).same();
    Path theirs = runs.theirs.resolve("disk.vpc");
    Path ours = runs.ours.resolve("disk.vpc");
    if (Files.exists(theirs) && Files.size(theirs) > 0) {
      assertThat(Files.size(ours)).isEqualTo(Files.size(theirs));
      assertThat(maskedFooter(ours)).isEqualTo(maskedFooter(theirs));
      assertThat(UncachedFiles.mismatch(ours, theirs)).isGreaterThanOrEqualTo(Files.size(theirs) - 512);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"subformat=fixed,force_size=on", "subformat=fixed"})
  void convertWritesTheDataAndTheFooter(String options) throws IOException {
    Path dir = TestImages.scratch();
    Path source = dir.resolve("source.qed");
    Qemu.check("qemu-img", "create", "-q", "-f", "qed", source.toString(), "30M");
    Qemu.io(source, "qed", "write -P 0x5a 1M 64k", "write -P 0x11 5M 3M", "write -P 0x22 30719k 1k");
    Path theirs = dir.resolve("theirs.vhd");
    Path ours = dir.resolve("ours.vhd");
    Qemu.check("qemu-img", "convert", "-O", "vpc", "-o", options, source.toString(), theirs.toString());
    Cli.Result converted = Cli.run("convert", "-O", "vpc", "-o", options, source.toString(), ours.toString());
    assertThat(converted.exitCode()).as(converted.err()).isZero();
    assertThat(Files.size(ours)).isEqualTo(Files.size(theirs));
    assertThat(maskedFooter(ours)).isEqualTo(maskedFooter(theirs));
    assertThat(UncachedFiles.mismatch(ours, theirs)).isGreaterThanOrEqualTo(Files.size(theirs) - 512);
    // without force_size the geometry rounds the size up, and qemu-img compare warns of that for both
    assertThat(Qemu.check("qemu-img", "compare", "-f", "qed", "-F", "vpc", source.toString(), ours.toString()))
        .endsWith("Images are identical.\n")
        .isEqualTo(Qemu.check("qemu-img", "compare", "-f", "qed", "-F", "vpc", source.toString(), theirs.toString()));
  }

  /** The last sector without its timestamp, checksum and UUID. */
  private static byte[] maskedFooter(Path image) throws IOException {
    byte[] footer = new byte[512];
    try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "r")) {
      file.seek(file.length() - 512);
      file.readFully(footer);
    }
    Arrays.fill(footer, 24, 28, (byte) 0);
    Arrays.fill(footer, 64, 84, (byte) 0);
    return footer;
  }
}
