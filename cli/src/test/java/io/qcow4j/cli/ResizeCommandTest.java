package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
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
  })
  void resizesLikeQemuImg(String arguments) {
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
    }
  }

  @Test
  void shrinkingOverDataIsRefusedWhereQemuImgDeletesIt() {
    SideBySide both = prepared();
    both.theirsOnly("qemu-io", "-c", "write -P 5 600k 4k", "@/q.qcow2");
    Qemu.io(both.ours.resolve("q.qcow2"), "qcow2", "write -P 5 600k 4k");
    Cli.Result ours = Cli.run("resize", "--shrink", both.ours.resolve("q.qcow2").toString(), "512k");
    assertThat(ours.exitCode()).isEqualTo(1);
    assertThat(ours.err()).startsWith("qcow4j: cannot shrink to 524288 bytes: data is allocated at guest offset 589824");
    assertThat(Cli.run("io", "-c", "read -q -P 5 600k 4k", "-c", "length", both.ours.resolve("q.qcow2").toString()).out())
        .isEqualTo("1 MiB\n");
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
