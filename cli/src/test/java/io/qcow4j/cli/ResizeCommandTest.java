package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** qcow4j resize against qemu-img resize on copies of the same images: messages, status, then size and content. */
class ResizeCommandTest {
  private static Path images;

  /** Command lines after "resize"; @/q.qcow2 is 1 MiB with data in its first 64 KiB, @/r.raw 1 MiB of raw. */
  @ParameterizedTest
  @ValueSource(strings = {
      "@/q.qcow2 2M", "@/q.qcow2 +1M", "@/q.qcow2 +0", "@/q.qcow2 -1M", "@/q.qcow2 -- -1M", "@/q.qcow2 512k",
      "--shrink @/q.qcow2 512k", "--shrink @/q.qcow2 -- -512k", "--shrink @/q.qcow2 -512k", "-q @/q.qcow2 5M",
      "-f qcow2 @/q.qcow2 3G", "@/q.qcow2 1000", "@/q.qcow2 4000001", "@/q.qcow2 1Q", "@/q.qcow2 -- -10M",
      "@/q.qcow2 16E", "--preallocation=foo @/q.qcow2 5M", "--preallocation=off @/q.qcow2 5M",
      "--preallocation=full @/q.qcow2 1M", "@/q.qcow2", "@/q.qcow2 1M 2M", "-x @/q.qcow2 2M",
      "-f raw @/r.raw 3M", "-f raw @/r.raw 1000", "--shrink -f raw @/r.raw 1000", "--shrink -f raw @/r.raw 100k",
      "--preallocation=falloc -f raw @/r.raw 3M", "--preallocation=metadata -f raw @/r.raw 3M",
      "--preallocation=metadata @/q.qcow2 5M", "--preallocation=metadata @/q.qcow2 1500k",
      "--preallocation=falloc @/q.qcow2 1500k",
  })
  void resizesLikeQemuImg(String arguments) throws java.io.IOException {
    SideBySide both = prepared();
    SideBySide.Runs runs = both.run("qemu-img", ("resize " + arguments).split(" ")).same();
    String name = arguments.contains("r.raw") ? "r.raw" : "q.qcow2";
    String format = name.endsWith(".raw") ? "raw" : "qcow2";
    // strict (allocation too) for qcow2; a raw file grown by qcow4j has its last block written where QEMU leaves a hole
    String mode = format.equals("qcow2") ? "-s" : "-q";
    assertThat(Qemu.run("qemu-img", "compare", "-f", format, "-F", format, mode, both.theirs.resolve(name).toString(),
        both.ours.resolve(name).toString()).exitCode()).as(runs.toString()).isZero();
    if (format.equals("qcow2")) {
      Cli.Result check = Qemu.run("qemu-img", "check", both.ours.resolve(name).toString());
      assertThat(check.exitCode()).as(check.out() + check.err()).isZero();
      // a grown L1 table is written to its last entry, not to its cluster's end, as QEMU does it;
      // falloc/full growth places its metadata otherwise than QEMU's qcow2_refcount_area (which moves
      // the refcount table past the file's end): the same data, a different length (ARCHITECTURE.md)
      if (!arguments.contains("=falloc") && !arguments.contains("=full")) {
        assertThat(java.nio.file.Files.size(both.ours.resolve(name))).as("file length")
            .isEqualTo(java.nio.file.Files.size(both.theirs.resolve(name)));
      }
    }
  }

  /**
   * --shrink deletes the data past the new end as qemu-img does, a partial last cluster keeping
   * its own; growing over a longer backing file then reads zeros (iotest 292).
   */
  @Test
  void shrinkingOverDataDeletesItAsQemuImgDoes() throws java.io.IOException {
    Path theirs = java.nio.file.Files.createTempDirectory(TestImages.scratch(), "shrink");
    Path ours = java.nio.file.Files.createTempDirectory(TestImages.scratch(), "shrink");
    for (Path dir : List.of(theirs, ours)) {
      Qemu.createQcow2(dir.resolve("base.qcow2"), "1M");
      Qemu.io(dir.resolve("base.qcow2"), "qcow2", "write -P 0x11 0 1M");
      Qemu.createQcow2(dir.resolve("top.qcow2"), null, "-b", "base.qcow2", "-F", "qcow2");
      Qemu.io(dir.resolve("top.qcow2"), "qcow2", "write -P 0x22 0 1M");
    }
    String top = ours.resolve("top.qcow2").toString();
    String theirTop = theirs.resolve("top.qcow2").toString();
    for (String[] args : new String[][] {{"--shrink", "520k"}, {"", "567k"}}) {
      List<String> words = new java.util.ArrayList<>(List.of("resize"));
      if (!args[0].isEmpty()) {
        words.add(args[0]);
      }
      Cli.Result result = Cli.run(java.util.stream.Stream.concat(words.stream(), Stream.of(top, args[1])).toArray(String[]::new));
      Qemu.check(java.util.stream.Stream.concat(Stream.concat(Stream.of("qemu-img"), words.stream()), Stream.of(theirTop,
          args[1])).toArray(String[]::new));
      assertThat(result.exitCode()).as(result.err()).isZero();
      assertThat(result.out()).isEqualTo("Image resized.\n");
    }
    Cli.Result compare = Qemu.run("qemu-img", "compare", "-s", theirTop, top);
    assertThat(compare.exitCode()).as(compare.out() + compare.err()).isZero();
    assertThat(Qemu.check("qemu-img", "map", "--output=json", top).replace(ours.toString(), ""))
        .isEqualTo(Qemu.check("qemu-img", "map", "--output=json", theirTop).replace(theirs.toString(), ""));
    Cli.Result check = Qemu.run("qemu-img", "check", top);
    assertThat(check.exitCode()).as(check.out() + check.err()).isZero();
    assertThat(Cli.run("io", "-c", "read -q -P 0x22 0 520k", "-c", "read -q -P 0 520k 47k", "-c", "length", top).out())
        .isEqualTo("567 KiB\n");
  }

  /**
   * Growing over a longer backing file with preallocation: the new part reads zeros, not the
   * backing file, and the image holds what QEMU's does (iotest 125's last part).
   */
  @ParameterizedTest
  @ValueSource(strings = {"metadata 31k 96k", "metadata 33k 128k", "full 31k 96k", "full 33k 128k"})
  void growingWithPreallocationOverABackingFileReadsZeros(String arguments) throws java.io.IOException {
    String[] words = arguments.split(" ");
    SideBySide both = new SideBySide();
    for (Path dir : List.of(both.theirs, both.ours)) {
      Qemu.run("qemu-img", "create", "-q", "-f", "raw", dir.resolve("base").toString(), "128k");
      Qemu.io(dir.resolve("base"), "raw", "write -q -P 1 0 128k");
      Qemu.run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", "base", "-o", "cluster_size=64k",
          dir.resolve("image").toString(), words[1]);
    }
    both.run("qemu-img", "resize", "-f", "qcow2", "--preallocation=" + words[0], "@/image", words[2]).same();
    both.run("qemu-io", "-c", "read -P 1 0 " + words[1], "-c", "read -P 0 " + words[1] + " 63k", "@/image").same();
    assertThat(java.nio.file.Files.size(both.ours.resolve("image")))
        .isEqualTo(java.nio.file.Files.size(both.theirs.resolve("image")));
    both.run("qemu-img", "check", "@/image").same();
  }

  @Test
  void negativeSizesNeedNoDoubleDash() {
    SideBySide both = prepared();
    both.run("qemu-img", "resize", "--shrink", "-f", "raw", "@/r.raw", "-100k").same();
    assertThat(Cli.run("io", "-c", "length", both.ours.resolve("r.raw").toString()).out()).isEqualTo("924 KiB\n");
  }

  private static synchronized SideBySide prepared() {
    if (images == null) {
      images = TestImages.scratch();
      Qemu.createQcow2(images.resolve("q.qcow2"), "1M");
      Qemu.io(images.resolve("q.qcow2"), "qcow2", "write -P 1 0 64k");
      Qemu.check("qemu-img", "create", "-q", "-f", "raw", images.resolve("r.raw").toString(), "1M");
      Qemu.io(images.resolve("r.raw"), "raw", "write -P 2 0 64k");
    }
    return new SideBySide().copy(images.resolve("q.qcow2"), "q.qcow2").copy(images.resolve("r.raw"), "r.raw");
  }
}
