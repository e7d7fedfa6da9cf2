package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * -p side by side with qemu-img 7.2: the same command lines on copies of the same images, stdout
 * compared byte for byte.
 *
 * <p>The values between 0.00 and 100.00 depend on how the work is cut. Convert counts, as
 * qemu-img does, the bytes its block status walk gives to copy (data; zeros too with -S 0), and
 * reports each piece as it is handed to a worker, in guest order: pieces of at most 2 MiB
 * (qemu-img's IO_BUF_SIZE) that end where an extent ends, as qemu-img's requests do, so the
 * printed sequence is qemu-img's. Compare adds each range's share of the larger size in float and
 * rebase one step per range compared, with qemu-img's ranges, so theirs are the same too. Commit is
 * the exception: qemu-img prints its block job's progress, which counts the job's own requests as
 * they complete (and repeats 0.00 while it polls); ours counts the image's bytes as they are
 * committed, under the same printing rule, so only the frame is compared there.
 */
class ProgressCommandTest {
  private static final Pattern REPORTS = Pattern.compile("( {4}\\(\\d{1,3}\\.\\d\\d/100%\\)\r)+\n");
  private static Path images;

  @BeforeAll
  static void images() {
    images = TestImages.scratch();
    // 64 MiB of data in every cluster
    Qemu.check("qemu-img", "create", "-q", "-f", "raw", images.resolve("full.raw").toString(), "64M");
    Qemu.io(images.resolve("full.raw"), "raw", "write -q -P 0x5a 0 32M", "write -q -P 0xa5 32M 32M");
    // data, holes, an allocated zero range, a lone cluster
    Qemu.createQcow2(images.resolve("sparse.qcow2"), "64M");
    Qemu.io(images.resolve("sparse.qcow2"), "qcow2", "write -q -P 3 1M 3M", "write -q -P 5 20M 7M",
        "write -q -z 30M 4M", "write -q -P 7 50M 64k");
    Qemu.createQcow2(images.resolve("larger.qcow2"), "80M");
    Qemu.io(images.resolve("larger.qcow2"), "qcow2", "write -q -P 3 1M 3M", "write -q -P 5 20M 7M",
        "write -q -z 30M 4M", "write -q -P 7 50M 64k");
    Qemu.createQcow2(images.resolve("empty.qcow2"), "64M");
    Qemu.createQcow2(images.resolve("base.qcow2"), "64M");
    Qemu.io(images.resolve("base.qcow2"), "qcow2", "write -q -P 1 0 20M");
    Qemu.createQcow2(images.resolve("top.qcow2"), null, "-b", "base.qcow2", "-F", "qcow2");
    Qemu.io(images.resolve("top.qcow2"), "qcow2", "write -q -P 2 4M 6M", "write -q -P 3 40M 1M");
    Qemu.createQcow2(images.resolve("target.qcow2"), "64M");
    Qemu.createQcow2(images.resolve("big.qcow2"), "4G");
    Qemu.check("qemu-img", "snapshot", "-c", "one", images.resolve("big.qcow2").toString());
  }

  /** Both directories, with the images {@code command} names (and the backing file of top.qcow2). */
  private static SideBySide both(String command) {
    SideBySide both = new SideBySide();
    for (String name : new String[] {"full.raw", "sparse.qcow2", "larger.qcow2", "empty.qcow2", "base.qcow2",
        "top.qcow2", "target.qcow2", "big.qcow2"}) {
      if (command.contains("@/" + name) || name.equals("base.qcow2") && command.contains("@/top.qcow2")) {
        both.copy(images.resolve(name), name);
      }
    }
    return both;
  }

  @Test
  void convertOf64MiBPrintsQemuImgsLines() {
    SideBySide.Runs runs = both("@/full.raw").run("qemu-img", "convert", "-p", "-O", "qcow2", "@/full.raw", "@/out.qcow2")
        .same();
    String out = runs.ours().out();
    // 32 requests of 2 MiB: 0.00, 3.12 ... 96.88, the last request's 100.00, then the final one
    assertThat(out).matches(REPORTS).startsWith("    (0.00/100%)\r    (3.12/100%)\r    (6.25/100%)\r")
        .endsWith("    (96.88/100%)\r    (100.00/100%)\r    (100.00/100%)\r\n");
    assertThat(out.split("\r")).hasSize(35);
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "convert -p -O raw @/sparse.qcow2 @/out.raw",
      "convert -p -O qcow2 @/sparse.qcow2 @/out.qcow2",
      "convert -p -S 0 -O raw @/sparse.qcow2 @/out.raw",
      "convert -p -S 0 -O qcow2 @/sparse.qcow2 @/out.qcow2",
      "convert -p -c -O qcow2 @/sparse.qcow2 @/out.qcow2",
      "convert -p -m 1 -W -O qcow2 @/sparse.qcow2 @/out.qcow2",
      "convert -p -O raw @/sparse.qcow2 @/full.raw @/sparse.qcow2 @/out.raw",
      "convert -p -n -O qcow2 @/sparse.qcow2 @/target.qcow2",
      "convert -p -n -S 0 -O qcow2 @/sparse.qcow2 @/target.qcow2",
      "convert -p -O qcow2 -B @/base.qcow2 -F qcow2 @/sparse.qcow2 @/out.qcow2",
      "convert -p -O raw @/empty.qcow2 @/out.raw",
      "convert -p -O foo @/sparse.qcow2 @/out.raw",
      "convert -p -n --target-is-zero -B @/base.qcow2 -F qcow2 -O qcow2 @/sparse.qcow2 @/target.qcow2",
      "convert -p -O raw @/missing.qcow2 @/out.raw",
      "convert -p -q -O raw @/sparse.qcow2 @/out.raw",
      "compare -p @/sparse.qcow2 @/out.raw",
      "compare -p @/full.raw @/empty.qcow2",
      "compare -p @/sparse.qcow2 @/larger.qcow2",
      "compare -p -s @/sparse.qcow2 @/larger.qcow2",
      "compare -p @/missing.qcow2 @/sparse.qcow2",
      "rebase -p -b  @/top.qcow2",
      "rebase -p -u -b base.qcow2 -F qcow2 @/top.qcow2",
      "rebase -p -b @/base.qcow2 -F qcow2 @/missing.qcow2",
      "amend -p -o lazy_refcounts=on @/sparse.qcow2",
      "amend -p -o compat=0.10 @/big.qcow2",
      "amend -p -o foo=1 @/sparse.qcow2",
      "amend -p -f qcow2 -o help @/sparse.qcow2",
      "commit -p @/base.qcow2",
      "commit -p @/missing.qcow2",
  })
  void sameAsQemuImg(String command) {
    SideBySide both = both(command);
    if (command.contains("out.raw") && command.startsWith("compare")) {
      both.copy(images.resolve("sparse.qcow2"), "sparse.qcow2");
      both.theirsOnly("qemu-img", "convert", "-O", "raw", "@/sparse.qcow2", "@/out.raw");
      Cli.run("convert", "-O", "raw", both.ours.resolve("sparse.qcow2").toString(), both.ours.resolve("out.raw").toString());
    }
    // "-b  @" is "-b" with an empty argument
    String[] arguments = command.replace("-b  @", "-b \u0000 @").split(" ");
    for (int i = 0; i < arguments.length; i++) {
      arguments[i] = arguments[i].replace("\u0000", "");
    }
    SideBySide.Runs runs = both.run("qemu-img", arguments);
    if (command.contains("missing")) {
      // only the progress output is this test's business: QEMU says "Could not open" twice there
      assertThat(runs.ours().out()).as("stdout of " + command).isEqualTo(runs.theirs().out());
      assertThat(runs.ours().exitCode()).isEqualTo(runs.theirs().exitCode());
    } else {
      runs.same();
    }
  }

  @Test
  void commitPrintsTheFrameAndTheRule() {
    SideBySide.Runs runs = both("@/top.qcow2").run("qemu-img", "commit", "-p", "@/top.qcow2");
    assertThat(runs.ours().exitCode()).isEqualTo(runs.theirs().exitCode()).isZero();
    for (Cli.Result result : new Cli.Result[] {runs.theirs(), runs.ours()}) {
      String[] lines = result.out().split("\n");
      assertThat(lines).hasSize(2);
      assertThat(lines[0] + "\n").matches(REPORTS).startsWith("    (0.00/100%)\r")
          .endsWith("    (100.00/100%)\r    (100.00/100%)\r\n");
      assertThat(lines[1]).isEqualTo("Image committed.");
    }
  }
}
