package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** qcow4j io against qemu-io: the same lines (timings masked), the same streams, the same exit status. */
class IoCommandTest {
  /** qemu-io's throughput line: its numbers depend on the clock. */
  private static final Pattern TIMING = Pattern.compile(
      "^(\\S+ \\S+, \\d+ ops; ).*\\(.* and .* ops/sec\\)$", Pattern.MULTILINE);
  private static final Pattern PARSABLE_TIMING = Pattern.compile("^(\\d+,\\d+,)\\d+:\\d\\d:\\d\\d\\.\\d\\d,.*$", Pattern.MULTILINE);

  private static final List<String> COMMANDS = List.of(
      "read -P 1 32k 68k", "read -P 0 1M 200k", "read -v 2047k 40", "read -P 2 2047k 3k", "read -P 9 0 512",
      "length", "map", "read 0 100M", "read -q -P 3 5M 64k", "read -P 0 -s 512 -l 1k 1M 4k", "read  -C  0 1k",
      "read 1.5k 1k", "read 0x10 16", "read 1.5 1", "read -P 300 0 1", "read -P 0x0 -s 1k -l 4k 0 4k", "read 0 3G",
      "read -z 0 1", "read 1", "read -P", "length 1", "bogus 1", "read -P 0 -- 9M 512", "r 0 1", "len");

  @ParameterizedTest
  @ValueSource(strings = {"sparse.raw", "default.qcow2", "top.qcow2", "compressed-zstd.qcow2", "extl2.qcow2", "datafile-raw.qcow2"})
  void commandsPrintWhatQemuIoPrints(String name) {
    Path image = TestImages.path(name);
    String format = name.endsWith(".raw") ? "raw" : "qcow2";
    List<String> ours = new ArrayList<>(List.of("io", "-r", "-f", format));
    List<String> theirs = new ArrayList<>(List.of("qemu-io", "-r", "-f", format));
    for (String command : COMMANDS) {
      ours.addAll(List.of("-c", command));
      theirs.addAll(List.of("-c", command));
    }
    ours.add(image.toString());
    theirs.add(image.toString());

    Cli.Result ourResult = Cli.run(ours.toArray(String[]::new));
    Cli.Result theirResult = Qemu.run(theirs.toArray(String[]::new));

    assertThat(ourResult.exitCode()).isEqualTo(theirResult.exitCode()).isEqualTo(1);
    assertThat(masked(ourResult.out())).isEqualTo(masked(theirResult.out()));
    assertThat(ourResult.err()).isEqualTo(theirResult.err());
  }

  /** qemu-io's own options as its getopt_long reads them: glibc's complaint, then the usage and status 1. */
  @Test
  void optionsAreReadAsQemuIoReadsThem() {
    String raw = TestImages.path("full.raw").toString();
    for (String[] args : new String[][] {{"-x", raw}, {"-c"}, {"--bogus", raw}, {"--c", "read 0 512", raw, raw},
        {"-t", "bogus", raw}, {"--aio=bogus", raw}, {"-d", "bogus", raw}, {"-f", "raw", "--image-opts", "-c", "read 0 512", raw}}) {
      Cli.Result ours = Cli.run(prepend("io", args));
      Cli.Result theirs = Qemu.run(prepend("qemu-io", args));
      String what = String.join(" ", args);
      assertThat(ours.exitCode()).as(what).isEqualTo(theirs.exitCode()).isEqualTo(1);
      assertThat(ours.err()).as(what).isEqualTo(theirs.err().replace("qemu-io:", theirs.out().isEmpty() ? "qcow4j:" : "qcow4j io:"));
      assertThat(ours.out()).as(what).isEqualTo(theirs.out().isEmpty() ? "" : Cli.run("io", "--help").out());
    }
    assertThat(Cli.run("io", "-h").out()).startsWith("Usage: qcow4j io [OPTIONS]... [-c STRING]... [file]\n");
    Cli.Result repeated = Cli.run("io", "-f", "qcow2", "--cache", "writeback", "--aio", "threads", "-c", "read 0 512",
        "-f", "raw", raw);
    assertThat(repeated.exitCode()).as(repeated.err()).isZero();
    assertThat(repeated.out()).startsWith("read 512/512 bytes at offset 0\n");
  }

  private static String[] prepend(String first, String[] rest) {
    String[] all = new String[rest.length + 1];
    all[0] = first;
    System.arraycopy(rest, 0, all, 1, rest.length);
    return all;
  }

  @Test
  void successfulCommandsExitZeroLikeQemuIo() {
    String image = TestImages.path("top.qcow2").toString();
    String[] commands = {"-c", "read -P 1 0 48k", "-c", "read -P 6 4092k 8k", "-c", "length"};
    Cli.Result ours = Cli.run(concat(new String[] {"io", "-r"}, commands, image));
    Cli.Result theirs = Qemu.run(concat(new String[] {"qemu-io", "-r"}, commands, image));
    assertThat(ours.exitCode()).isEqualTo(theirs.exitCode()).isZero();
    assertThat(masked(ours.out())).isEqualTo(masked(theirs.out()));
  }

  @Test
  void patternFailureExitsOneAndNamesTheOffset() {
    Cli.Result ours = Cli.run("io", "-c", "read -P 0x41 1M 512", TestImages.path("default.qcow2").toString());
    assertThat(ours.exitCode()).isEqualTo(1);
    assertThat(ours.out()).startsWith("Pattern verification failed at offset 1048576, 512 bytes\n");
  }

  /** Writing commands, good and bad, run on copies of one image by qemu-io and by qcow4j. */
  private static final List<String> WRITES = List.of(
      "write 0 64k", "write -P 0xab 64k 1k", "write -z 128k 64k", "write -z -u 192k 64k", "write -q 3k 1",
      "w -P 5 300k 70k", "write -C 512k 512", "write -f -P 6 600k 4k", "write -p 0 512", "write -z -n 700k 100k",
      "discard 0 64k", "discard -q 1k 2k", "d 64k 200k", "discard -C 800k 1k", "flush", "f", "aio_flush",
      "writev 900k 512 1k", "writev -P 3 1k 100", "readv -P 3 1k 100", "readv -v 900k 16", "readv 0 512 512",
      "readv -P 0 1M 64k", "read -P 0xab 64k 1k", "read -P 5 300k 70k", "read -P 0 128k 128k",
      "write 1M 1", "write 1023k 2k", "write", "write -P 300 0 1", "write -z -P 1 0 1", "write -u 0 512",
      "write -n 0 512", "write 0 3G", "write -z 0 3G", "write -z -n 0 3G", "write -x 0 1", "write 0 1 2",
      "write 0 -1", "write abc 1", "write -P", "write -c 1 64k", "write -c 0 100", "write -f -c 0 64k",
      "writev 0", "writev 0 3G", "writev -x 0 1", "readv 1M 512", "discard 0", "discard -x 0 1",
      "discard 1M 512", "discard 0 3G", "flush x", "aio_flush 1", "write -s /nonexistent 0 1", "write -b 0 512");

  @ParameterizedTest
  @ValueSource(strings = {"default.qcow2", "v2.qcow2", "extl2.qcow2", "raw"})
  void writeCommandsPrintWhatQemuIoPrints(String kind) {
    SideBySide both = new SideBySide();
    prepare(both, kind);
    String format = kind.equals("raw") ? "raw" : "qcow2";
    List<String> args = new ArrayList<>(List.of("-f", format));
    for (String command : WRITES) {
      if (command.equals("write -b 0 512")) {
        continue; // qcow4j has no VM state area: it refuses -b
      }
      args.addAll(List.of("-c", command));
    }
    args.add("@/image");
    both.run("qemu-io", args.toArray(String[]::new)).same();
    assertThat(Qemu.run("qemu-img", "compare", "-f", format, "-F", format, both.theirs.resolve("image").toString(),
        both.ours.resolve("image").toString()).out()).isEqualTo("Images are identical.\n");
    if (format.equals("qcow2")) {
      Cli.Result check = Qemu.run("qemu-img", "check", both.ours.resolve("image").toString());
      assertThat(check.exitCode()).as(check.out() + check.err()).isZero();
      assertThat(map(both.ours)).as("allocation").isEqualTo(map(both.theirs));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"default.qcow2", "extl2.qcow2", "zstd.qcow2", "overlay.qcow2"})
  void compressedWritesAreReadBackByQemu(String kind) {
    SideBySide both = new SideBySide();
    prepare(both, kind);
    String[] commands = {"-c", "write -c 256k 64k", "-c", "write -c -P 7 320k 128k", "-c", "write -c -P 9 0 64k",
        "-c", "write -c 448k 1k", "-c", "write -c -P 1 576k 64k", "-c", "write -c 576k 64k", "-c", "write -P 2 640k 64k",
        "-c", "write -c 640k 64k", "-c", "write -c 960k 64k", "-c", "read -P 7 320k 128k", "-c", "map", "@/image"};
    both.run("qemu-io", commands).same();
    assertThat(Qemu.run("qemu-img", "compare", both.theirs.resolve("image").toString(),
        both.ours.resolve("image").toString()).out()).isEqualTo("Images are identical.\n");
    Cli.Result check = Qemu.run("qemu-img", "check", both.ours.resolve("image").toString());
    assertThat(check.exitCode()).as(check.out() + check.err()).isZero();
    assertThat(check.out()).contains("compressed clusters");
  }

  /**
   * discard and write -z on a compat=0.10 overlay and on v3 images: the data qemu-io keeps stays
   * (a v2 overlay's discard does nothing, partial clusters are never discarded), and the allocation
   * is qemu-io's, host offsets included (iotests 060, 177, 244).
   */
  @ParameterizedTest
  @ValueSource(strings = {"v2overlay.qcow2", "overlay.qcow2", "default.qcow2", "v2.qcow2", "extl2.qcow2"})
  void discardAndZeroesKeepWhatQemuIoKeeps(String kind) {
    SideBySide both = new SideBySide();
    prepare(both, kind);
    both.run("qemu-io", "-f", "qcow2", "-c", "write -P 0x22 0 192k", "-c", "discard 0 128k", "-c", "discard 129k 50k",
        "-c", "write -z 132k 8k", "-c", "write -z 300k 8k", "-c", "write -z 64k 64k", "-c", "read -P 0x22 180k 12k",
        "@/image").same();
    assertThat(Qemu.run("qemu-img", "compare", both.theirs.resolve("image").toString(),
        both.ours.resolve("image").toString()).out()).isEqualTo("Images are identical.\n");
    assertThat(Qemu.check("qemu-img", "map", "--output=json", both.ours.resolve("image").toString()))
        .isEqualTo(Qemu.check("qemu-img", "map", "--output=json", both.theirs.resolve("image").toString()));
  }

  @Test
  void readOnlyImagesRefuseWritesLikeQemuIo() {
    SideBySide both = new SideBySide();
    prepare(both, "default.qcow2");
    both.run("qemu-io", "-r", "-c", "write 0 512", "-c", "discard 0 64k", "-c", "flush", "-c", "write -z 0 512",
        "-c", "writev 0 512", "-c", "read -P 0 0 512", "@/image").same();
  }

  /** Makes the same fresh 1 MiB image (with qemu-img) in both directories: "image", over "base" for an overlay. */
  private static void prepare(SideBySide both, String kind) {
    for (Path dir : List.of(both.theirs, both.ours)) {
      String image = dir.resolve("image").toString();
      switch (kind) {
        case "raw" -> Qemu.check("qemu-img", "create", "-q", "-f", "raw", image, "1M");
        case "v2.qcow2" -> Qemu.createQcow2(dir.resolve("image"), "1M", "-o", "compat=0.10,cluster_size=4k");
        case "extl2.qcow2" -> Qemu.createQcow2(dir.resolve("image"), "1M", "-o", "extended_l2=on,cluster_size=16k");
        case "zstd.qcow2" -> Qemu.createQcow2(dir.resolve("image"), "1M", "-o", "compression_type=zstd,cluster_size=32k");
        case "v2overlay.qcow2" -> {
          Qemu.createQcow2(dir.resolve("base"), "1M");
          Qemu.io(dir.resolve("base"), "qcow2", "write -P 4 0 1M");
          Qemu.createQcow2(dir.resolve("image"), null, "-o", "compat=0.10", "-b", "base", "-F", "qcow2");
        }
        case "overlay.qcow2" -> {
          Qemu.createQcow2(dir.resolve("base"), "1M");
          Qemu.io(dir.resolve("base"), "qcow2", "write -P 4 0 1M");
          Qemu.createQcow2(dir.resolve("image"), null, "-b", "base", "-F", "qcow2");
        }
        default -> Qemu.createQcow2(dir.resolve("image"), "1M");
      }
    }
  }

  /**
   * Where qemu-img map finds data, merged into runs of data and of zeros: QEMU turns discarded
   * clusters into zero clusters where qcow4j deallocates them, so "present" is left out.
   */
  private static List<String> map(Path dir) {
    String json = Qemu.check("qemu-img", "map", "--output=json", dir.resolve("image").toString());
    java.util.regex.Matcher entry = Pattern.compile("\"start\": (\\d+), \"length\": (\\d+).*?\"data\": (\\w+)")
        .matcher(json);
    List<String> runs = new ArrayList<>();
    long runStart = 0;
    long runEnd = 0;
    String runKind = null;
    while (entry.find()) {
      long start = Long.parseLong(entry.group(1));
      long length = Long.parseLong(entry.group(2));
      String kind = entry.group(3);
      if (!kind.equals(runKind)) {
        if (runKind != null) {
          runs.add(runKind + " " + runStart + ".." + runEnd);
        }
        runKind = kind;
        runStart = start;
      }
      runEnd = start + length;
    }
    runs.add(runKind + " " + runStart + ".." + runEnd);
    return runs;
  }

  private static String masked(String output) {
    String masked = TIMING.matcher(output).replaceAll("$1<time>");
    return PARSABLE_TIMING.matcher(masked).replaceAll("$1<time>");
  }

  private static String[] concat(String[] head, String[] middle, String last) {
    List<String> all = new ArrayList<>(List.of(head));
    all.addAll(List.of(middle));
    all.add(last);
    return all.toArray(String[]::new);
  }
}
