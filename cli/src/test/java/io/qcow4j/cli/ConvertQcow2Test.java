package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * qcow4j convert -O qcow2 against qemu-img convert: the same content (qemu-img compare), a clean
 * image (qemu-img check), data allocated where qemu-img allocates it; compressed output readable by
 * qemu and the same bytes on every run; -B writing only what differs from the backing file.
 */
class ConvertQcow2Test {
  private static final Pattern MAP_ENTRY = Pattern.compile("\"start\": (\\d+), \"length\": (\\d+), \"depth\": (\\d+).*?\"data\": (\\w+)");

  static Stream<String> images() {
    return TestImages.all();
  }

  @ParameterizedTest
  @MethodSource("images")
  void sparseQcow2LikeQemuImg(String name) {
    Path source = TestImages.path(name);
    Path dir = TestImages.scratch();
    Path ours = dir.resolve("ours.qcow2");
    Path theirs = dir.resolve("theirs.qcow2");
    Cli.Result result = Cli.run("convert", "-O", "qcow2", source.toString(), ours.toString());
    Qemu.check("qemu-img", "convert", "-O", "qcow2", source.toString(), theirs.toString());

    assertThat(result.exitCode()).as(result.err()).isZero();
    assertThat(result.out() + result.err()).isEmpty();
    assertIdentical(source, ours);
    assertClean(ours);
    assertThat(dataRuns(ours)).as("data allocated like qemu-img's output").isEqualTo(dataRuns(theirs));
  }

  @ParameterizedTest
  @ValueSource(strings = {"cluster_size=4k,compat=0.10", "extended_l2=on,cluster_size=32k", "refcount_bits=1,lazy_refcounts=on",
      "cluster_size=512", "preallocation=metadata", "compression_type=zstd", "cluster_size=2M"})
  void creationOptionsLikeQemuImg(String options) {
    Path source = TestImages.path("top.qcow2");
    Path dir = TestImages.scratch();
    Path ours = dir.resolve("ours.qcow2");
    Path theirs = dir.resolve("theirs.qcow2");
    Cli.Result result = Cli.run("convert", "-O", "qcow2", "-o", options, source.toString(), ours.toString());
    Qemu.check("qemu-img", "convert", "-O", "qcow2", "-o", options, source.toString(), theirs.toString());
    assertThat(result.exitCode()).as(result.err()).isZero();
    assertIdentical(source, ours);
    assertClean(ours);
    assertThat(info(ours)).isEqualTo(info(theirs));
    assertThat(dataRuns(ours)).isEqualTo(dataRuns(theirs));
  }

  @ParameterizedTest
  @ValueSource(strings = {"default.qcow2", "top.qcow2", "sparse.raw", "compressed-zstd.qcow2"})
  void compressedOutputIsReadByQemuAndTheSameEveryRun(String name) throws IOException {
    Path source = TestImages.path(name);
    Path dir = TestImages.scratch();
    Path first = dir.resolve("first.qcow2");
    Path second = dir.resolve("second.qcow2");
    Path zstd = dir.resolve("zstd.qcow2");
    assertThat(Cli.run("convert", "-c", "-O", "qcow2", source.toString(), first.toString()).exitCode()).isZero();
    assertThat(Cli.run("convert", "-c", "-m", "1", "-W", "-O", "qcow2", source.toString(), second.toString()).exitCode()).isZero();
    assertThat(Cli.run("convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd,cluster_size=16k", source.toString(),
        zstd.toString()).exitCode()).isZero();

    assertThat(Files.mismatch(first, second)).as("same bytes with 8 workers and with 1").isEqualTo(-1);
    for (Path image : List.of(first, zstd)) {
      assertIdentical(source, image);
      Cli.Result check = assertClean(image);
      if (!name.equals("sparse.raw") || image == first) {
        assertThat(check.out()).doesNotContain(" 0.00% compressed");
      }
    }
  }

  /**
   * zstd clusters are compressed by the system's libzstd, the library qemu-img uses, each one
   * frame with the default parameters: the image is qemu-img's byte for byte (random clusters
   * stored uncompressed, text compressed, zeros left out), with 64 KiB and 16 KiB clusters.
   */
  @ParameterizedTest
  @ValueSource(strings = {"cluster_size=64k", "cluster_size=16k"})
  void zstdCompressedOutputIsQemuImgsByteForByte(String clusterSize) throws IOException {
    Path dir = TestImages.scratch();
    Path source = dir.resolve("mixed.raw");
    byte[] bytes = new byte[6 << 20];
    new java.util.Random(21).nextBytes(bytes);
    byte[] text = "a line of text with words that repeat, 4711\n".getBytes();
    for (int at = 2 << 20; at < (4 << 20) + 12345; at++) {
      bytes[at] = text[at % text.length];
    }
    java.util.Arrays.fill(bytes, (4 << 20) + 12345, (5 << 20) + 100, (byte) 0);
    Files.write(source, bytes);
    Path ours = dir.resolve("ours.qcow2");
    Path theirs = dir.resolve("theirs.qcow2");
    String options = "compression_type=zstd," + clusterSize;
    Cli.Result result = Cli.run("convert", "-c", "-f", "raw", "-O", "qcow2", "-o", options, source.toString(),
        ours.toString());
    Qemu.check("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "-o", options, source.toString(),
        theirs.toString());
    assertThat(result.exitCode()).as(result.err()).isZero();
    assertThat(Files.mismatch(ours, theirs)).as("qemu-img's image byte for byte").isEqualTo(-1);
    assertIdentical(source, ours);
  }

  @Test
  void backingFileGetsOnlyWhatDiffers() {
    Path dir = TestImages.scratch();
    Path base = dir.resolve("base.qcow2");
    Path top = dir.resolve("top.qcow2");
    Qemu.createQcow2(base, "4M");
    Qemu.io(base, "qcow2", "write -P 1 0 1M", "write -P 2 2M 1M");
    Qemu.createQcow2(top, null, "-b", "base.qcow2", "-F", "qcow2");
    // 512k: new data; 640k: the same data as the base rewritten; 2M: zeros over base data; 3M+: zeros over zeros
    Qemu.io(top, "qcow2", "write -P 3 512k 64k", "write -P 1 640k 64k", "write -z 2M 64k", "write -P 0 3M 64k");
    Path ours = dir.resolve("ours.qcow2");
    Path theirs = dir.resolve("theirs.qcow2");
    Cli.Result result = Cli.run("convert", "-O", "qcow2", "-B", base.toString(), "-F", "qcow2", top.toString(), ours.toString());
    Qemu.check("qemu-img", "convert", "-O", "qcow2", "-B", base.toString(), "-F", "qcow2", top.toString(), theirs.toString());
    assertThat(result.exitCode()).as(result.err()).isZero();
    assertIdentical(top, ours);
    assertIdentical(theirs, ours);
    assertClean(ours);
    assertThat(info(ours)).isEqualTo(info(theirs).replace(dir + "/theirs.qcow2", dir + "/ours.qcow2"));
    // only the changed cluster at 512k holds data in the new image, and a zero cluster at 2M hides the base's data
    // (qemu-img copies every cluster the source allocates, the one at 640k too)
    assertThat(dataRuns(ours).stream().filter(run -> run.startsWith("0 ")).toList())
        .containsExactly("0 data 524288..589824", "0 zero 2097152..2162688");
  }

  @Test
  void severalSourcesAreConcatenatedLikeQemuImg() {
    Path dir = TestImages.scratch();
    Path ours = dir.resolve("ours.qcow2");
    Path theirs = dir.resolve("theirs.qcow2");
    String[] sources = {TestImages.path("sparse.raw").toString(), TestImages.path("c512.qcow2").toString(),
        TestImages.path("top.qcow2").toString(), TestImages.path("full.raw").toString()};
    List<String> command = new ArrayList<>(List.of("convert", "-O", "qcow2", "-m", "3"));
    command.addAll(List.of(sources));
    command.add(ours.toString());
    assertThat(Cli.run(command.toArray(String[]::new)).exitCode()).isZero();
    command.set(0, "qemu-img");
    command.add(0, "qemu-img");
    command.remove(1);
    command.set(command.size() - 1, theirs.toString());
    command.add(1, "convert");
    Qemu.check(command.toArray(String[]::new));
    assertIdentical(theirs, ours);
    assertClean(ours);
    assertThat(dataRuns(ours)).isEqualTo(dataRuns(theirs));
  }

  @Test
  void noCreateWritesIntoAnExistingImage() {
    Path dir = TestImages.scratch();
    Path target = dir.resolve("target.qcow2");
    Qemu.createQcow2(target, "20M", "-o", "cluster_size=16k");
    Qemu.io(target, "qcow2", "write -P 9 0 20M");
    Path source = TestImages.path("default.qcow2");
    Cli.Result result = Cli.run("convert", "-n", "-O", "qcow2", source.toString(), target.toString());
    assertThat(result.exitCode()).as(result.err()).isZero();
    Qemu.io(target, "qcow2", "read -q -P 9 8M 12M");
    assertThat(Qemu.run("qemu-img", "compare", "-q", source.toString(), target.toString()).exitCode()).isEqualTo(1);
    Path copy = dir.resolve("copy.qcow2");
    Qemu.check("qemu-img", "convert", "-O", "qcow2", source.toString(), copy.toString());
    Qemu.check("qemu-img", "resize", copy.toString(), "20M");
    Qemu.io(copy, "qcow2", "write -P 9 8M 12M");
    assertIdentical(copy, target);
    assertClean(target);
  }

  @Test
  void targetIsZeroLeavesZeroRangesUnwrittenLikeQemuImg() {
    Path dir = TestImages.scratch();
    Path source = TestImages.path("default.qcow2");
    Path ours = dir.resolve("ours.qcow2");
    Path theirs = dir.resolve("theirs.qcow2");
    Qemu.createQcow2(ours, "20M");
    Qemu.createQcow2(theirs, "20M");
    Cli.Result result = Cli.run("convert", "-n", "--target-is-zero", "-O", "qcow2", source.toString(), ours.toString());
    Qemu.check("qemu-img", "convert", "-n", "--target-is-zero", "-O", "qcow2", source.toString(), theirs.toString());
    assertThat(result.exitCode()).as(result.err()).isZero();
    assertThat(Qemu.run("qemu-img", "compare", "-q", theirs.toString(), ours.toString()).exitCode()).isZero();
    assertClean(ours);
    assertThat(dataRuns(ours)).as("data allocated like qemu-img's output").isEqualTo(dataRuns(theirs));
  }

  @Test
  void progressAndQuiet() {
    Path dir = TestImages.scratch();
    Cli.Result progress = Cli.run("convert", "-p", "-O", "qcow2", TestImages.path("default.qcow2").toString(),
        dir.resolve("a.qcow2").toString());
    String theirs = Qemu.check("qemu-img", "convert", "-p", "-O", "qcow2", TestImages.path("default.qcow2").toString(),
        dir.resolve("theirs.qcow2").toString());
    // qemu-img prints its progress on stdout, the last report and its newline being "    (100.00/100%)\r\n"
    assertThat(progress.out()).isEqualTo(theirs).endsWith("    (100.00/100%)\r\n");
    assertThat(progress.err()).isEmpty();
    Cli.Result quiet = Cli.run("convert", "-p", "-q", "-O", "qcow2", TestImages.path("default.qcow2").toString(),
        dir.resolve("b.qcow2").toString());
    assertThat(quiet.out()).isEmpty();
    assertThat(quiet.err()).isEmpty();
  }

  /** Command lines after "convert" that qemu-img refuses, run in two directories holding t.qcow2 over b.qcow2. */
  @ParameterizedTest
  @ValueSource(strings = {
      "-O qcow2 -B @/b.qcow2 @/t.qcow2 @/o.qcow2", "-O raw -B @/b.qcow2 -F qcow2 @/t.qcow2 @/o.raw",
      "-m 0 -O qcow2 @/t.qcow2 @/o.qcow2", "-m 17 -O qcow2 @/t.qcow2 @/o.qcow2", "-m x -O qcow2 @/t.qcow2 @/o.qcow2",
      "-O qcow2 -o foo=1 @/t.qcow2 @/o.qcow2", "-c -O raw @/t.qcow2 @/o.raw", "-F qcow2 -O qcow2 @/t.qcow2 @/o.qcow2",
      "-c -O qcow2 -o preallocation=metadata @/t.qcow2 @/o.qcow2", "-O qcow2 @/t.qcow2 @/t.qcow2 -B @/b.qcow2 -F qcow2 @/o.qcow2",
      "-O qcow2 @/t.qcow2", "-O qcow2 -o cluster_size=1000 @/t.qcow2 @/o.qcow2", "-O foo @/t.qcow2 @/o.qcow2",
      "-n -O qcow2 -o cluster_size=4k @/t.qcow2 @/b.qcow2", "-n -O qcow2 @/t.qcow2 @/small.qcow2",
      "-O qcow2 -o ,x @/t.qcow2 @/o.qcow2", "--target-is-zero -O qcow2 @/t.qcow2 @/o.qcow2",
  })
  void refusesWhatQemuImgRefuses(String arguments) {
    Path dir = TestImages.scratch();
    Qemu.createQcow2(dir.resolve("b.qcow2"), "2M");
    Qemu.createQcow2(dir.resolve("t.qcow2"), null, "-b", "b.qcow2", "-F", "qcow2");
    Qemu.createQcow2(dir.resolve("small.qcow2"), "1M");
    SideBySide both = new SideBySide().copy(dir.resolve("b.qcow2"), "b.qcow2").copy(dir.resolve("t.qcow2"), "t.qcow2")
        .copy(dir.resolve("small.qcow2"), "small.qcow2");
    SideBySide.Runs runs = both.run("qemu-img", ("convert " + arguments).split(" ")).same();
    assertThat(runs.ours().exitCode()).isEqualTo(1);
  }

  @Test
  void optionHelpLikeQemuImg() {
    Cli.Result ours = Cli.run("convert", "-O", "qcow2", "-o", "help");
    String theirs = Qemu.check("qemu-img", "convert", "-O", "qcow2", "-o", "help");
    assertThat(ours.out()).isEqualTo(theirs);
  }

  static void assertIdentical(Path expected, Path actual) {
    Cli.Result compare = Qemu.run("qemu-img", "compare", expected.toString(), actual.toString());
    assertThat(compare.out()).as(compare.err()).isEqualTo("Images are identical.\n");
  }

  static Cli.Result assertClean(Path image) {
    Cli.Result check = Qemu.run("qemu-img", "check", image.toString());
    assertThat(check.exitCode()).as(check.out() + check.err()).isZero();
    return check;
  }

  private static String info(Path image) {
    return Qemu.check("qemu-img", "info", image.toString()).replaceAll("disk size: .*\n", "")
        .replace(image.toString(), "IMAGE");
  }

  /** qemu-img map --output=json merged into runs of "depth data|zero start..end". */
  static List<String> dataRuns(Path image) {
    Matcher entry = MAP_ENTRY.matcher(Qemu.check("qemu-img", "map", "--output=json", image.toString()));
    List<String> runs = new ArrayList<>();
    String kind = null;
    long start = 0;
    long end = 0;
    while (entry.find()) {
      String next = entry.group(3) + " " + (entry.group(4).equals("true") ? "data" : "zero");
      long from = Long.parseLong(entry.group(1));
      if (!next.equals(kind)) {
        if (kind != null) {
          runs.add(kind + " " + start + ".." + end);
        }
        kind = next;
        start = from;
      }
      end = from + Long.parseLong(entry.group(2));
    }
    if (kind != null) {
      runs.add(kind + " " + start + ".." + end);
    }
    return runs;
  }
}
