package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every write path marks the persistent bitmaps as QEMU's does: io, commit into a base, rebase,
 * convert -n into an image, and writes through serve; a SIGKILL while serving read-write leaves
 * them in use. Each runs side by side with qemu-io / qemu-img, and the bitmaps are compared
 * through qemu-img info, qemu-img check and qemu-nbd's dirty-bitmap maps.
 */
class BitmapPathsTest {

  /** Command lines on copies of base.qcow2 and top.qcow2 (over base), both with bitmaps b0 (64k) and f (4k, disabled on base). */
  @ParameterizedTest
  @ValueSource(strings = {
      "qemu-io|-c|write -P 1 100k 10k|-c|write -z 3M 1M|-c|discard 8M 64k|@/top.qcow2",
      "qemu-img|commit|@/top.qcow2",
      "qemu-img|commit|-d|@/top.qcow2",
      "qemu-img|rebase|-b||@/top.qcow2",
      "qemu-img|rebase|-b|@/other.qcow2|-F|qcow2|@/top.qcow2",
      "qemu-img|convert|-n|-O|qcow2|@/other.qcow2|@/top.qcow2",
      "qemu-img|resize|@/top.qcow2|+1M",
  })
  void marksAsQemuMarks(String line) {
    Path scratch = TestImages.scratch();
    Path base = scratch.resolve("base.qcow2");
    Path top = scratch.resolve("top.qcow2");
    Path other = scratch.resolve("other.qcow2");
    Qemu.createQcow2(base, "16M");
    Qemu.io(base, "qcow2", "write -P 2 2M 1M", "write -P 3 10M 64k");
    Qemu.createQcow2(other, "16M");
    Qemu.io(other, "qcow2", "write -P 4 2M 128k", "write -P 5 12M 4k");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top.toString());
    Qemu.io(top, "qcow2", "write -P 6 5M 8k", "write -P 7 2M 4k");
    for (Path image : List.of(base, top)) {
      Qemu.check("qemu-img", "bitmap", "--add", image.toString(), "b0");
      Qemu.check("qemu-img", "bitmap", "--add", "-g", "4k", image.toString(), "f");
    }
    Qemu.check("qemu-img", "bitmap", "--disable", base.toString(), "f");
    SideBySide both = new SideBySide().copy(base, "base.qcow2").copy(top, "top.qcow2").copy(other, "other.qcow2");
    String[] words = line.split("\\|", -1);
    SideBySide.Runs runs = both.run(words[0], java.util.Arrays.copyOfRange(words, 1, words.length));
    assertThat(runs.ours().exitCode()).as(runs.toString()).isEqualTo(runs.theirs().exitCode()).isZero();
    for (String image : new String[] {"base.qcow2", "top.qcow2"}) {
      assertSameBitmaps(both.ours.resolve(image), both.theirs.resolve(image));
    }
  }

  /** convert --bitmaps on copies of top.qcow2 (bitmaps b0 and f, 4k), one copy with an inconsistent bitmap "broken". */
  @ParameterizedTest
  @ValueSource(strings = {
      "convert|--bitmaps|-O|qcow2|@/top.qcow2|@/new.qcow2",
      "convert|--bitmaps|-O|qcow2|-o|cluster_size=4k|@/top.qcow2|@/new.qcow2",
      "convert|--bitmaps|-n|-O|qcow2|@/top.qcow2|@/other.qcow2",
      "convert|--bitmaps|-O|qcow2|@/broken.qcow2|@/new.qcow2",
      "convert|--bitmaps|--skip-broken-bitmaps|-O|qcow2|@/broken.qcow2|@/new.qcow2",
      "convert|--bitmaps|-O|raw|@/top.qcow2|@/new.raw",
      "convert|--bitmaps|-O|qcow2|-o|compat=0.10|@/top.qcow2|@/new.qcow2",
      "convert|--bitmaps|-O|qcow2|@/top.qcow2|@/other.qcow2|@/new.qcow2",
      "convert|--bitmaps|-f|raw|-O|qcow2|@/plain.raw|@/new.qcow2",
      "convert|--skip-broken-bitmaps|-O|qcow2|@/top.qcow2|@/new.qcow2",
  })
  void convertCopiesBitmapsAsQemuImg(String line) throws Exception {
    Path scratch = TestImages.scratch();
    Path top = scratch.resolve("top.qcow2");
    Path other = scratch.resolve("other.qcow2");
    Path broken = scratch.resolve("broken.qcow2");
    Qemu.createQcow2(top, "16M");
    Qemu.createQcow2(other, "16M");
    Qemu.check("qemu-img", "bitmap", "--add", top.toString(), "b0");
    Qemu.check("qemu-img", "bitmap", "--add", "-g", "4k", "--disable", top.toString(), "f");
    Qemu.io(top, "qcow2", "write -P 6 5M 8k", "write -P 7 2M 4k");
    Qemu.check("qemu-img", "bitmap", "--enable", top.toString(), "f");
    Qemu.io(top, "qcow2", "write -P 8 9M 4k");
    Files.copy(top, broken);
    Qemu.check("qemu-img", "bitmap", "--add", broken.toString(), "broken");
    Qemu.run("qemu-io", "-c", "write 0 1", "-c", "abort", broken.toString());
    Files.write(scratch.resolve("plain.raw"), new byte[1 << 20]);
    SideBySide both = new SideBySide().copy(top, "top.qcow2").copy(other, "other.qcow2").copy(broken, "broken.qcow2")
        .copy(scratch.resolve("plain.raw"), "plain.raw");
    String[] words = line.split("\\|", -1);
    SideBySide.Runs runs = both.run("qemu-img", words);
    assertThat(runs.ours().exitCode()).as(runs.toString()).isEqualTo(runs.theirs().exitCode());
    assertThat(runs.ours().err()).as(runs.toString()).isEqualTo(runs.theirs().err());
    for (String image : new String[] {"new.qcow2", "other.qcow2"}) {
      if (Files.exists(both.theirs.resolve(image)) && runs.theirs().exitCode() == 0) {
        assertSameBitmaps(both.ours.resolve(image), both.theirs.resolve(image));
      }
    }
  }

  @Test
  void writesThroughServeAndAKillLeavesThemInUse() throws Exception {
    Path scratch = TestImages.scratch();
    Path image = scratch.resolve("s.qcow2");
    Qemu.createQcow2(image, "16M");
    Qemu.check("qemu-img", "bitmap", "--add", image.toString(), "b0");
    SideBySide both = new SideBySide().copy(image, "s.qcow2");
    // qemu-nbd's reference: the same writes through its server
    Path theirs = both.theirs.resolve("s.qcow2");
    Path theirSocket = both.theirs.resolve("q.sock");
    Process qemuNbd = new ProcessBuilder("qemu-nbd", "-f", "qcow2", "-k", theirSocket.toString(), theirs.toString())
        .redirectErrorStream(true).start();
    awaitSocket(theirSocket);
    Qemu.check("qemu-io", "-f", "raw", "-c", "write 1M 4k", "-c", "write -z 6M 100k",
        "nbd+unix:///?socket=" + theirSocket);
    assertThat(qemuNbd.waitFor(60, TimeUnit.SECONDS)).isTrue();

    Path ours = both.ours.resolve("s.qcow2");
    Path socket = both.ours.resolve("o.sock");
    Process serve = new ProcessBuilder(ToolProcess.command("serve", "-f", "qcow2", "-k", socket.toString(),
        ours.toString())).redirectErrorStream(true).start();
    awaitSocket(socket);
    Qemu.check("qemu-io", "-f", "raw", "-c", "write 1M 4k", "-c", "write -z 6M 100k", "nbd+unix:///?socket=" + socket);
    assertThat(serve.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertSameBitmaps(ours, theirs);

    // Killed while serving read-write after a write: the bitmap stays in use, the image checks clean.
    Files.deleteIfExists(socket);
    Process killed = new ProcessBuilder(ToolProcess.command("serve", "-t", "-f", "qcow2", "-k", socket.toString(),
        ours.toString())).redirectErrorStream(true).start();
    awaitSocket(socket);
    Qemu.check("qemu-io", "-f", "raw", "-c", "write 9M 4k", "-c", "flush", "nbd+unix:///?socket=" + socket);
    killed.destroyForcibly();
    assertThat(killed.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(Qemu.check("qemu-img", "info", ours.toString())).contains("in-use");
    Cli.Result check = Qemu.run("qemu-img", "check", ours.toString());
    assertThat(check.exitCode()).as(check.out() + check.err()).isIn(0, 3);
  }

  private static void awaitSocket(Path socket) throws InterruptedException {
    for (int wait = 0; wait < 1200 && !Files.exists(socket); wait++) {
      Thread.sleep(50);
    }
    assertThat(socket).exists();
  }

  private static void assertSameBitmaps(Path ours, Path theirs) {
    String info = Qemu.check("qemu-img", "info", "--output=json", theirs.toString());
    assertThat(bitmapsOf(Qemu.check("qemu-img", "info", "--output=json", ours.toString())))
        .as(ours.toString()).isEqualTo(bitmapsOf(info));
    Cli.Result check = Qemu.run("qemu-img", "check", ours.toString());
    assertThat(check.exitCode()).as(check.out() + check.err()).isZero();
    java.util.regex.Matcher names = java.util.regex.Pattern.compile("\"name\": \"([^\"]*)\"").matcher(info);
    while (names.find()) {
      assertThat(map(ours, names.group(1))).as(ours + " " + names.group(1)).isEqualTo(map(theirs, names.group(1)));
    }
  }

  private static String bitmapsOf(String info) {
    int start = info.indexOf("\"bitmaps\"");
    return start < 0 ? "" : info.substring(start, info.indexOf("],\n", info.lastIndexOf("\"granularity\"")));
  }

  private static String map(Path image, String bitmap) {
    return Qemu.check("nbdinfo", "--map=qemu:dirty-bitmap:" + bitmap, "--", "[", "qemu-nbd", "-r", "-f", "qcow2",
        "-B", bitmap, image.toString(), "]");
  }
}
