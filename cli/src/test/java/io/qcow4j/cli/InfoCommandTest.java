package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/** qcow4j info against qemu-img info on the same images: field by field, then byte for byte. */
class InfoCommandTest {

  static Stream<String> images() {
    return TestImages.all();
  }

  @ParameterizedTest
  @MethodSource("images")
  void jsonMatchesQemuImg(String name) {
    String image = TestImages.path(name).toString();
    Cli.Result ours = Cli.run("info", "--output=json", image);
    String theirs = Qemu.check("qemu-img", "info", "--output=json", image);

    assertThat(ours.exitCode()).as(ours.err()).isZero();
    assertThat(Json.parse(ours.out())).isEqualTo(Json.parse(theirs));
    assertThat(ours.out()).as("layout and key order").isEqualTo(theirs);
  }

  @ParameterizedTest
  @MethodSource("images")
  void humanMatchesQemuImg(String name) {
    String image = TestImages.path(name).toString();
    Cli.Result ours = Cli.run("info", image);

    assertThat(ours.exitCode()).as(ours.err()).isZero();
    assertThat(ours.out()).isEqualTo(Qemu.check("qemu-img", "info", image));
  }

  @ParameterizedTest
  @ValueSource(strings = {"top.qcow2", "mid.qcow2", "default.qcow2", "sparse.raw"})
  void backingChainMatchesQemuImg(String name) {
    String image = TestImages.path(name).toString();
    Cli.Result json = Cli.run("info", "--output=json", "--backing-chain", image);
    String theirsJson = Qemu.check("qemu-img", "info", "--output=json", "--backing-chain", image);
    assertThat(json.exitCode()).as(json.err()).isZero();
    assertThat(Json.parse(json.out())).isEqualTo(Json.parse(theirsJson));
    assertThat(json.out()).isEqualTo(theirsJson);

    Cli.Result human = Cli.run("info", "--backing-chain", image);
    assertThat(human.out()).isEqualTo(Qemu.check("qemu-img", "info", "--backing-chain", image));
  }

  /**
   * The compression type and its incompatible feature bit disagreeing, or an unknown type: QEMU's
   * validate_compression_type words, before any unknown incompatible feature is reported.
   * "incompatible type": the low byte of the incompatible features, then compression_type.
   */
  @ParameterizedTest
  @org.junit.jupiter.params.provider.CsvSource({"8,0", "0,1", "8,5", "121,0", "104,1"})
  void compressionTypeRefusalsLikeQemuImg(int incompatible, int type) throws java.io.IOException {
    java.nio.file.Path image = TestImages.scratch().resolve("ctype-" + incompatible + "-" + type + ".qcow2");
    Qemu.createQcow2(image, "1M");
    try (java.io.RandomAccessFile file = new java.io.RandomAccessFile(image.toFile(), "rw")) {
      file.seek(79);
      file.writeByte(incompatible);
      file.seek(104);
      file.writeByte(type);
    }
    new SideBySide().copy(image, "x.qcow2").run("qemu-img", "info", "@/x.qcow2").same();
  }

  /**
   * A header size that is no whole number of sectors (only a hand-made header has one): QEMU's
   * disk is its whole sectors, so info, map and a conversion see 64 MiB, not 64 MiB + 125 bytes.
   */
  @org.junit.jupiter.api.Test
  void anUnalignedHeaderSizeIsCutToWholeSectorsLikeQemuImg() throws java.io.IOException {
    java.nio.file.Path image = TestImages.scratch().resolve("unaligned-size.qcow2");
    Qemu.createQcow2(image, "64M");
    Qemu.io(image, "qcow2", "write -P 7 0 64k");
    try (java.io.RandomAccessFile file = new java.io.RandomAccessFile(image.toFile(), "rw")) {
      file.seek(24);
      file.writeLong((64L << 20) + 125);
    }
    SideBySide both = new SideBySide().copy(image, "x.qcow2");
    both.run("qemu-img", "info", "--output=json", "@/x.qcow2").same();
    both.run("qemu-img", "map", "--output=json", "@/x.qcow2").same();
    both.run("qemu-img", "convert", "-O", "raw", "@/x.qcow2", "@/x.raw").same();
    assertThat(java.nio.file.Files.size(both.ours.resolve("x.raw"))).isEqualTo(64L << 20)
        .isEqualTo(java.nio.file.Files.size(both.theirs.resolve("x.raw")));
  }

  @ParameterizedTest
  @ValueSource(strings = {"raw", "qcow2"})
  void explicitFormatMatchesQemuImg(String format) {
    String image = TestImages.path("default.qcow2").toString();
    Cli.Result ours = Cli.run("info", "-f", format, "--output=json", image);
    String theirs = Qemu.check("qemu-img", "info", "-f", format, "--output=json", image);
    assertThat(Json.parse(ours.out())).isEqualTo(Json.parse(theirs));
  }

  @ParameterizedTest
  @ValueSource(longs = {0, 512, 1536, 1022976, 1047552, 1048576, 1048576000, 1073741312, 1610612736, 5368710656L,
      17179869184L})
  void humanSizesMatchQemuImg(long size) throws Exception {
    java.nio.file.Path file = TestImages.scratch().resolve("size.raw");
    try (java.io.RandomAccessFile raw = new java.io.RandomAccessFile(file.toFile(), "rw")) {
      raw.setLength(size);
    }
    String ours = Cli.run("info", "-f", "raw", file.toString()).out();
    String theirs = Qemu.check("qemu-img", "info", "-f", "raw", file.toString());
    assertThat(line(ours, "virtual size:")).isEqualTo(line(theirs, "virtual size:"));
  }

  private static String line(String text, String prefix) {
    return text.lines().filter(each -> each.startsWith(prefix)).findFirst().orElseThrow();
  }
}
