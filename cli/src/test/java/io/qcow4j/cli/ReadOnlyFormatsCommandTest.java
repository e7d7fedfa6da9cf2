package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The formats qcow4j reads but does not write (vpc, vdi, qed, qcow), every subformat qemu-img
 * creates, written by qemu-io with patterns, zeros and holes: info, map, convert and compare print
 * what qemu-img prints and read the bytes qemu-img reads; each also serves as a qcow2 backing file.
 */
class ReadOnlyFormatsCommandTest {
  /** qemu-io writes: data in several blocks, a run across block boundaries, zeros, a last sector. */
  private static final String[] WRITES = {
      "write -P 0x5a 1M 64k", "write -P 0x11 5M 3M", "write -z 20M 64k", "write -P 0x22 4095k 2k",
      "write -P 0x33 63M 512"};

  /** A qemu-img create recipe: format and -o options. */
  record Recipe(String name, String format, String options) {
    @Override
    public String toString() {
      return name;
    }
  }

  static Stream<Recipe> recipes() {
    return Stream.of(
        new Recipe("vpc-dynamic", "vpc", "subformat=dynamic"),
        new Recipe("vpc-dynamic-force-size", "vpc", "subformat=dynamic,force_size=on"),
        new Recipe("vpc-fixed", "vpc", "subformat=fixed"),
        new Recipe("vpc-fixed-force-size", "vpc", "subformat=fixed,force_size=on"),
        new Recipe("vdi-dynamic", "vdi", "static=off"),
        new Recipe("vdi-static", "vdi", "static=on"),
        new Recipe("qed", "qed", "cluster_size=65536"),
        new Recipe("qed-small-clusters", "qed", "cluster_size=4096,table_size=2"),
        new Recipe("qcow", "qcow", "encryption=off"),
        // QEMU 7.2's vhdx driver has no block status: map shows one data extent, and refuses in human form
        new Recipe("vhdx-dynamic", "vhdx", "subformat=dynamic"),
        new Recipe("vhdx-fixed", "vhdx", "subformat=fixed"));
  }

  private static Path image(Path dir, Recipe recipe) {
    Path image = dir.resolve(recipe.name() + "." + recipe.format());
    Qemu.check("qemu-img", "create", "-q", "-f", recipe.format(), "-o", recipe.options(), image.toString(), "64M");
    Qemu.io(image, recipe.format(), WRITES);
    return image;
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("recipes")
  void infoAndMapPrintWhatQemuImgPrints(Recipe recipe) {
    Path image = image(TestImages.scratch(), recipe);
    String name = image.toString();
    for (List<String> command : List.of(
        List.of("info", "-f", recipe.format(), name),
        List.of("info", "--output=json", "-f", recipe.format(), name),
        List.of("map", "-f", recipe.format(), name),
        List.of("map", "--output=json", "-f", recipe.format(), name))) {
      assertSame(command);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("recipes")
  void convertReadsTheBytesQemuImgReads(Recipe recipe) throws IOException {
    Path dir = TestImages.scratch();
    Path image = image(dir, recipe);
    Path theirs = dir.resolve("theirs.raw");
    Path ours = dir.resolve("ours.raw");
    Qemu.check("qemu-img", "convert", "-f", recipe.format(), "-O", "raw", image.toString(), theirs.toString());
    Cli.Result converted = Cli.run("convert", "-f", recipe.format(), "-O", "raw", image.toString(), ours.toString());
    assertThat(converted.exitCode()).as(converted.err()).isZero();
    assertThat(Files.mismatch(theirs, ours)).as("first differing byte").isEqualTo(-1);

    Path qcow2 = dir.resolve("ours.qcow2");
    Cli.Result toQcow2 = Cli.run("convert", "-f", recipe.format(), "-O", "qcow2", image.toString(), qcow2.toString());
    assertThat(toQcow2.exitCode()).as(toQcow2.err()).isZero();
    assertThat(Qemu.run("qemu-img", "compare", "-f", recipe.format(), "-F", "qcow2", image.toString(),
        qcow2.toString()).out()).isEqualTo("Images are identical.\n");
    Cli.Result compared = Cli.run("compare", "-f", recipe.format(), "-F", "raw", image.toString(), theirs.toString());
    assertThat(compared.out()).as(compared.err()).isEqualTo("Images are identical.\n");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("recipes")
  void servesAsAQcow2BackingFile(Recipe recipe) throws IOException {
    Path dir = TestImages.scratch();
    Path image = image(dir, recipe);
    Path top = dir.resolve("top.qcow2");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", "-b", image.getFileName().toString(), "-F",
        recipe.format(), top.toString());
    Qemu.io(top, "qcow2", "write -P 0x77 5M 4k", "write -z 1M 4k");
    assertSame(List.of("info", "--backing-chain", top.toString()));
    assertSame(List.of("map", "--output=json", top.toString()));
    Path theirs = dir.resolve("theirs.raw");
    Path ours = dir.resolve("ours.raw");
    Qemu.check("qemu-img", "convert", "-O", "raw", top.toString(), theirs.toString());
    Cli.Result converted = Cli.run("convert", "-O", "raw", top.toString(), ours.toString());
    assertThat(converted.exitCode()).as(converted.err()).isZero();
    assertThat(Files.mismatch(theirs, ours)).as("first differing byte").isEqualTo(-1);
  }

  @Test
  void compressedQcowClustersAreInflated() throws IOException {
    Path dir = TestImages.scratch();
    Path image = dir.resolve("compressed.qcow");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow", image.toString(), "8M");
    // qemu-img 7.2 cannot convert -c into qcow; qemu-io writes compressed clusters one at a time
    Qemu.io(image, "qcow", "write -c -P 0x5a 0 4k", "write -c -P 0x5b 4k 4k", "write -c -P 0x21 12k 4k",
        "write -P 0x22 16k 8k", "write -c -P 0x23 7M 4k");
    assertSame(List.of("map", "--output=json", "-f", "qcow", image.toString()));
    Path ours = dir.resolve("ours.raw");
    Path theirs = dir.resolve("theirs.raw");
    Qemu.check("qemu-img", "convert", "-O", "raw", image.toString(), theirs.toString());
    assertThat(Cli.run("convert", "-O", "raw", image.toString(), ours.toString()).exitCode()).isZero();
    assertThat(Files.mismatch(theirs, ours)).as("first differing byte").isEqualTo(-1);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("backedFormats")
  void qedAndQcowReadTheirBackingFiles(String format) throws IOException {
    Path dir = TestImages.scratch();
    Path base = dir.resolve("base.qcow2");
    Qemu.createQcow2(base, "32M");
    Qemu.io(base, "qcow2", "write -P 0x41 0 8M", "write -P 0x42 20M 1M");
    Path middle = dir.resolve("middle." + format);
    Qemu.check("qemu-img", "create", "-q", "-f", format, "-b", "base.qcow2", "-F", "qcow2", middle.toString(), "48M");
    Qemu.io(middle, format, "write -P 0x51 1M 64k", "write -P 0x52 21M 4k");
    Path top = dir.resolve("top.qcow2");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", "-b", middle.getFileName().toString(), "-F", format,
        top.toString());
    Qemu.io(top, "qcow2", "write -P 0x61 2M 4k");
    for (String name : List.of(middle.toString(), top.toString())) {
      assertSame(List.of("info", "--backing-chain", name));
      assertSame(List.of("map", "--output=json", name));
      Path theirs = dir.resolve("theirs.raw");
      Path ours = dir.resolve("ours.raw");
      Qemu.check("qemu-img", "convert", "-O", "raw", name, theirs.toString());
      Cli.Result converted = Cli.run("convert", "-O", "raw", name, ours.toString());
      assertThat(converted.exitCode()).as(converted.err()).isZero();
      assertThat(Files.mismatch(theirs, ours)).as(name + ": first differing byte").isEqualTo(-1);
    }
  }

  static Stream<String> backedFormats() {
    return Stream.of("qed", "qcow");
  }

  @Test
  void aQedImageThatNeedsACheckIsReadAsItIs() throws IOException {
    Path dir = TestImages.scratch();
    Path image = image(dir, new Recipe("qed", "qed", "cluster_size=65536"));
    try (var file = java.nio.channels.FileChannel.open(image, java.nio.file.StandardOpenOption.WRITE)) {
      // QED_F_NEED_CHECK in the features field at offset 16
      file.write(java.nio.ByteBuffer.wrap(new byte[] {2}), 16);
    }
    assertSame(List.of("info", image.toString()));
    assertSame(List.of("info", "--output=json", image.toString()));
    assertSame(List.of("map", "--output=json", image.toString()));
    Path theirs = dir.resolve("theirs.raw");
    Path ours = dir.resolve("ours.raw");
    Qemu.check("qemu-img", "convert", "-O", "raw", image.toString(), theirs.toString());
    assertThat(Cli.run("convert", "-O", "raw", image.toString(), ours.toString()).exitCode()).isZero();
    assertThat(Files.mismatch(theirs, ours)).as("first differing byte").isEqualTo(-1);
  }

  @Test
  void readWriteOpensAreRefusedNamingTheFormat() {
    Path image = image(TestImages.scratch(), new Recipe("vdi", "vdi", "static=off"));
    Cli.Result written = Cli.run("io", "-f", "vdi", "-c", "write 0 512", image.toString());
    assertThat(written.exitCode()).isNotZero();
    assertThat(written.err()).contains("image format 'vdi' is supported read-only by qcow4j");
    Cli.Result read = Cli.run("io", "-r", "-f", "vdi", "-c", "read -P 0x5a 1M 64k", image.toString());
    assertThat(read.exitCode()).as(read.err()).isZero();
  }

  private static void assertSame(List<String> command) {
    List<String> qemu = new ArrayList<>(List.of("qemu-img"));
    qemu.addAll(command);
    Cli.Result theirs = Qemu.run(qemu.toArray(String[]::new));
    Cli.Result ours = Cli.run(command.toArray(String[]::new));
    // in-process, the tool speaks under its own name
    assertThat(ours.err()).as("stderr of " + command).isEqualTo(theirs.err().replace("qemu-img: ", "qcow4j: "));
    assertThat(ours.out()).as("stdout of " + command).isEqualTo(theirs.out());
    assertThat(ours.exitCode()).as("exit status of " + command).isEqualTo(theirs.exitCode());
  }
}
