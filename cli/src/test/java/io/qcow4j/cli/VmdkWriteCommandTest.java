package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.testing.UncachedFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * VMDK images (-f vmdk / -O vmdk, every subformat, a parent, with qemu-img's -o options): create prints what qemu-img prints and makes its file but for the descriptor's random
 * CID; convert to monolithicSparse writes qemu-img's file (grains in the same places), to
 * streamOptimized deflated grains behind their markers; each image passes qemu-img check and
 * compares identical to its source, with qemu-img and with ours.
 */
class VmdkWriteCommandTest {
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {"subformat=monolithicSparse|64M", "subformat=streamOptimized|64M",
      "adapter_type=lsilogic,hwversion=7,toolsversion=1234|100M", "compat6=on,zeroed_grain=on|1000001",
      "adapter_type=foo|1M", "subformat=foo|1M", "compat6=on,hwversion=7|1M",
      "subformat=monolithicFlat,zeroed_grain=on|1M", "backing_fmt=qcow2|1M", "subformat=monolithicSparse|3G"})
  void createMakesTheFileQemuImgMakes(String options, String size) throws IOException {
    SideBySide runs = new SideBySide();
    runs.run("qemu-img", "create", "-f", "vmdk", "-o", options, "@/disk.vmdk", size).same();
    Path theirs = runs.theirs.resolve("disk.vmdk");
    if (Files.exists(theirs)) {
      Path ours = runs.ours.resolve("disk.vmdk");
      assertSameBesidesCid(ours, theirs);
      assertThat(Qemu.check("qemu-img", "check", ours.toString())).isEqualTo("No errors were found on the image.\n");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"subformat=monolithicSparse", "zeroed_grain=on,adapter_type=buslogic", "compat6=on"})
  void convertToMonolithicSparseWritesQemuImgsFile(String options) throws IOException {
    Path dir = TestImages.scratch();
    Path source = source(dir);
    // the extent line names the file itself: one name in two directories
    Path theirs = Files.createDirectories(dir.resolve("theirs")).resolve("disk.vmdk");
    Path ours = Files.createDirectories(dir.resolve("ours")).resolve("disk.vmdk");
    Qemu.check("qemu-img", "convert", "-O", "vmdk", "-o", options, source.toString(), theirs.toString());
    convert(options, source, ours);
    assertSameBesidesCid(ours, theirs);
  }

  @ParameterizedTest
  @ValueSource(strings = {"subformat=streamOptimized", "subformat=monolithicSparse"})
  void compressedConversionIsTakenAsQemuImgTakesIt(String options) throws IOException {
    Path dir = TestImages.scratch();
    Path source = source(dir);
    Path ours = dir.resolve("ours.vmdk");
    Cli.Result converted = Cli.run("convert", "-c", "-O", "vmdk", "-o", options, source.toString(), ours.toString());
    assertThat(converted.exitCode()).as(converted.err()).isZero();
    assertThat(Qemu.check("qemu-img", "compare", "-F", "vmdk", source.toString(), ours.toString()))
        .isEqualTo("Images are identical.\n");
  }

  @Test
  void convertToStreamOptimizedDeflatesEveryGrain() throws IOException {
    Path dir = TestImages.scratch();
    Path source = source(dir);
    Path ours = dir.resolve("ours.vmdk");
    convert("subformat=streamOptimized", source, ours);
    assertThat(Qemu.check("qemu-img", "info", ours.toString())).contains("create type: streamOptimized\n");
    assertThat(Files.size(ours)).isLessThan(1 << 20);
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {"monolithicFlat|disk-flat.vmdk", "twoGbMaxExtentFlat|disk-f001.vmdk,disk-f002.vmdk",
      "twoGbMaxExtentSparse|disk-s001.vmdk,disk-s002.vmdk"})
  void extentFilesAreTheOnesQemuImgMakes(String subformat, String extentNames) throws IOException {
    SideBySide runs = new SideBySide();
    runs.run("qemu-img", "create", "-f", "vmdk", "-o", "subformat=" + subformat, "@/disk.vmdk", "3G").same();
    assertThat(descriptorFile(runs.ours.resolve("disk.vmdk"))).isEqualTo(descriptorFile(runs.theirs.resolve("disk.vmdk")));
    for (String name : extentNames.split(",")) {
      Path ours = runs.ours.resolve(name);
      Path theirs = runs.theirs.resolve(name);
      assertThat(Files.size(ours)).as(name).isEqualTo(Files.size(theirs));
      assertThat(UncachedFiles.mismatch(ours, theirs)).as(name).isEqualTo(-1);
    }
    assertThat(Qemu.check("qemu-img", "check", runs.ours.resolve("disk.vmdk").toString()))
        .isEqualTo("No errors were found on the image.\n");
  }

  @ParameterizedTest
  @ValueSource(strings = {"subformat=monolithicFlat", "subformat=twoGbMaxExtentSparse", "subformat=twoGbMaxExtentFlat"})
  void convertToExtentFilesKeepsTheData(String options) throws IOException {
    Path dir = TestImages.scratch();
    convert(options, source(dir), dir.resolve("ours.vmdk"));
  }

  @Test
  void aChildRecordsItsParentAndReadsThroughIt() throws IOException {
    Path dir = TestImages.scratch();
    Path parent = dir.resolve("parent.vmdk");
    Qemu.check("qemu-img", "convert", "-O", "vmdk", source(dir).toString(), parent.toString());
    Path child = dir.resolve("child.vmdk");
    Cli.Result created = Cli.run("create", "-q", "-f", "vmdk", "-b", "parent.vmdk", "-F", "vmdk", child.toString());
    assertThat(created.exitCode()).as(created.err()).isZero();
    String info = Qemu.check("qemu-img", "info", child.toString());
    String parentCid = Qemu.check("qemu-img", "info", parent.toString()).replaceAll("(?s).*\n    cid: (\\d+)\n.*", "$1");
    assertThat(info).contains("backing file: parent.vmdk (actual path: " + dir.resolve("parent.vmdk") + ")\n")
        .contains("    parent cid: " + parentCid + "\n");
    Qemu.io(child, "vmdk", "write -P 0x77 2M 64k");
    assertThat(Qemu.check("qemu-io", "-f", "vmdk", "-c", "read -P 0x5a 1M 64k", "-c", "read -P 0x77 2M 64k",
        child.toString())).doesNotContain("Pattern verification failed");
    assertThat(Qemu.check("qemu-img", "check", child.toString())).isEqualTo("No errors were found on the image.\n");

    SideBySide runs = new SideBySide();
    runs.run("qemu-img", "create", "-f", "vmdk", "-o", "subformat=monolithicFlat", "-b", "p.vmdk", "-F", "vmdk",
        "@/flat.vmdk", "1M").same();
  }

  /** A descriptor file's text with its random CID replaced. */
  private static String descriptorFile(Path path) throws IOException {
    return Files.readString(path, StandardCharsets.ISO_8859_1).replaceFirst("\nCID=[0-9a-f]+\n", "\nCID=x\n");
  }

  private static Path source(Path dir) {
    Path source = dir.resolve("source.qcow2");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", source.toString(), "70M");
    Qemu.io(source, "qcow2", "write -P 0x5a 1M 64k", "write -P 0x11 5M 3M", "write -z 12M 1M",
        "write -P 0x22 30719k 1k", "write -P 0x23 69M 1", "write -P 0x24 71679k 1k");
    return source;
  }

  private static void convert(String options, Path source, Path ours) {
    Cli.Result converted = Cli.run("convert", "-O", "vmdk", "-o", options, source.toString(), ours.toString());
    assertThat(converted.exitCode()).as(converted.err()).isZero();
    assertThat(Qemu.check("qemu-img", "check", ours.toString())).isEqualTo("No errors were found on the image.\n");
    assertThat(Qemu.check("qemu-img", "compare", "-F", "vmdk", source.toString(), ours.toString()))
        .isEqualTo("Images are identical.\n");
    Cli.Result compared = Cli.run("compare", "-F", "vmdk", source.toString(), ours.toString());
    assertThat(compared.out()).as(compared.err()).isEqualTo("Images are identical.\n");
  }

  /**
   * The same length and bytes but for the descriptor's CID value (a random number, printed without
   * leading zeros, so the descriptor text after it may shift within its 20 sectors).
   */
  private static void assertSameBesidesCid(Path ours, Path theirs) throws IOException {
    byte[] mine = Files.readAllBytes(ours);
    byte[] expected = Files.readAllBytes(theirs);
    assertThat(mine.length).isEqualTo(expected.length);
    assertThat(descriptor(mine)).isEqualTo(descriptor(expected));
    assertThat(Arrays.mismatch(Arrays.copyOf(mine, 512), Arrays.copyOf(expected, 512))).as("header").isEqualTo(-1);
    assertThat(Arrays.mismatch(Arrays.copyOfRange(mine, 21 * 512, mine.length),
        Arrays.copyOfRange(expected, 21 * 512, expected.length))).as("first differing byte past the descriptor")
        .isEqualTo(-1);
  }

  private static String descriptor(byte[] image) {
    String text = new String(image, 512, 20 * 512, StandardCharsets.ISO_8859_1);
    return text.replace("\0", "").replaceFirst("\nCID=[0-9a-f]+\n", "\nCID=x\n");
  }
}
