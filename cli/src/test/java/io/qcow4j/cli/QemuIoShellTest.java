package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * qemu-io's interpreter side by side with the real qemu-io: the command table and its help, the
 * commands that need no image, open/close/reopen, the aio commands, alloc, info, truncate, the
 * cache modes and commands read from standard input after the prompt.
 */
class QemuIoShellTest {
  private static final Pattern TIMING = Pattern.compile(
      "^(\\S+ \\S+, \\d+ ops; ).*\\(.* and .* ops/sec\\)$", Pattern.MULTILINE);
  private static final Pattern PARSABLE_TIMING = Pattern.compile("^(\\d+,\\d+,)\\d+:\\d\\d:\\d\\d\\.\\d\\d,.*$",
      Pattern.MULTILINE);

  @Test
  void helpPrintsQemuIosTable() {
    List<String> args = new ArrayList<>(List.of("-c", "help", "-c", "?", "-c", "help nosuch", "-c", "help x y"));
    for (QemuIoTable.Command command : QemuIoTable.COMMANDS) {
      args.addAll(List.of("-c", "help " + command.name()));
      if (command.altName() != null) {
        args.addAll(List.of("-c", "help " + command.altName()));
      }
    }
    same(Qemu.run(prepend("qemu-io", args)), Cli.run(prepend("io", args)));
  }

  @Test
  void commandsWithoutAnImageAreRefusedOrRunAsQemuIoRunsThem() {
    String image = TestImages.path("default.qcow2").toString();
    String[] args = {"-c", "read 0 512", "-c", "close", "-c", "map", "-c", "sleep 1", "-c", "sleep -1", "-c", "sleep 1x",
        "-c", "sigraise x", "-c", "sigraise 99", "-c", "open -r " + image, "-c", "read -P 0 1M 512", "-c", "open " + image,
        "-c", "close", "-c", "close", "-c", "open -r -o driver=qcow2 " + image, "-c", "info", "-c", "c", "-c", "open",
        "-c", "open -r", "-c", "open -x " + image, "-c", "open -r a b", "-c", "open -t bogus " + image,
        "-c", "open -i bogus " + image, "-c", "open -d bogus " + image, "-c", "open -r /nonexistent/image",
        "-c", "open -r -o driver=raw,bogus=1 " + image, "-c", "o -r -U " + image, "-c", "length", "-c", "q",
        "-c", "read 0 1"};
    same(Qemu.run(prepend("qemu-io", List.of(args))), Cli.run(prepend("io", List.of(args))));
  }

  /** aio requests, each completed by aio_flush before the next command, as the iotests use them. */
  private static final List<String> AIO = List.of(
      "aio_write 0 64k", "aio_flush", "aio_write -P 5 64k 4k 4k", "aio_flush", "aio_read -P 5 64k 8k", "aio_flush",
      "aio_read -P 6 64k 512", "aio_flush", "aio_read -v 64k 32", "aio_flush", "aio_read -q 0 1k", "aio_flush",
      "aio_write -z 128k 64k", "aio_flush", "aio_write -z -u 192k 64k", "aio_flush", "aio_write -C -P 7 256k 512",
      "aio_flush", "aio_write -f -q 300k 1k", "aio_flush", "aio_read -i 0 1", "aio_write -i 0 1", "aio_write -u 0 1",
      "aio_write -z 0 1 2", "aio_write 0", "aio_read 0", "aio_write -x 0 1", "aio_read -P 300 0 1",
      "aio_write 0 3G", "aio_read 2M 512", "aio_flush", "aio_write 2M 512", "aio_flush", "aio_flush 1");

  /** The other commands of an open image. */
  private static final List<String> CONTROL = List.of(
      "alloc 0", "alloc 0 1M", "a 1k 100", "alloc 2M", "alloc 0 3M", "alloc 60k 8k", "alloc", "alloc x", "alloc 0 1 2",
      "info", "i", "info 1", "length", "l", "map", "truncate 2M", "length", "map", "truncate -m falloc 3M", "length",
      "truncate -m bogus 4M", "truncate x", "truncate -x 1M", "t 3M", "read -P 0 2M 1M",
      "flush", "reopen -r", "write 0 512", "discard 0 64k", "truncate 4M", "reopen -w", "write -P 9 0 512",
      "reopen -r -w", "reopen x", "reopen -c bogus", "reopen -c unsafe", "write -P 8 512 512", "flush",
      "reopen -o lazy-refcounts=off", "read -P 9 0 512", "read -P 8 512 512", "break a b", "remove_break a",
      "resume a", "abort 1", "sigraise", "bogus");

  @ParameterizedTest
  @ValueSource(strings = {"qcow2", "raw"})
  void aioAndControlCommandsPrintWhatQemuIoPrints(String format) {
    SideBySide both = sideBySide(format);
    List<String> args = new ArrayList<>(List.of("-f", format, "--cache", "writeback", "--aio", "threads"));
    for (String command : concat(AIO, CONTROL)) {
      if (format.equals("raw") && command.startsWith("reopen -o")) {
        continue; // lazy-refcounts is qcow2's
      }
      args.addAll(List.of("-c", command));
    }
    args.add("@/image");
    both.run("qemu-io", args.toArray(String[]::new)).same();
    assertThat(Qemu.run("qemu-img", "compare", "-f", format, "-F", format, both.theirs.resolve("image").toString(),
        both.ours.resolve("image").toString()).out()).isEqualTo("Images are identical.\n");
  }

  /**
   * reopen -o: what QEMU cannot change (node names, drivers) and the options that clash with
   * -r/-w/-c (iotest 133). Not compared: "reopen -o read-only=on", after which QEMU 7.2 still
   * writes and then fails at exit ("Read-only block node ... cannot support read-write users").
   */
  @Test
  void reopenRefusesWhatQemuRefuses() {
    SideBySide both = new SideBySide();
    for (Path dir : List.of(both.theirs, both.ours)) {
      Qemu.createQcow2(dir.resolve("base"), "4M");
      Qemu.createQcow2(dir.resolve("image"), null, "-b", "base", "-F", "qcow2");
    }
    for (String command : List.of("reopen -o node-name=foo", "reopen -o file.node-name=foo",
        "reopen -o backing.node-name=foo", "reopen -o driver=raw", "reopen -o file.driver=qcow2",
        "reopen -o backing.driver=file", "reopen -o driver=qcow2", "reopen -o file.driver=file",
        "reopen -o backing.driver=qcow2", "reopen -r -o read-only=on", "reopen -w -o read-only=on",
        "reopen -c none -o cache.direct=on", "reopen -c writeback -o cache.direct=on",
        "reopen -c directsync -o cache.no-flush=on", "reopen -o read-only=foo", "reopen -o cache.no-flush=bar",
        "reopen -o read-only=off")) {
      both.run("qemu-io", "-c", command, "-c", "write 0 512", "@/image").same();
    }
    for (String option : List.of("node-name", "file.node-name", "backing.node-name")) {
      both.run("qemu-io", "-c", "open -o " + option + "=foo @/image", "-c", "reopen -o " + option + "=foo").same();
      both.run("qemu-io", "-c", "open -o " + option + "=foo @/image", "-c", "reopen").same();
    }
  }

  /** An image whose backing file is missing: qemu-io's "can't open device" before QEMU's words (iotest 069). */
  @Test
  void aMissingBackingFileIsNamedAsQemuIoNamesIt() throws IOException {
    SideBySide both = new SideBySide();
    for (Path dir : List.of(both.theirs, both.ours)) {
      Qemu.createQcow2(dir.resolve("base"), "1M");
      Qemu.createQcow2(dir.resolve("image"), null, "-b", "base", "-F", "qcow2");
      java.nio.file.Files.delete(dir.resolve("base"));
    }
    both.run("qemu-io", "-c", "read 0 512", "@/image").same();
    both.run("qemu-io", "-c", "open -r @/image", "-c", "open @/missing", "-c", "read 0 1").same();
  }

  /** A read of a damaged compressed cluster fails with QEMU's errno text, EIO (iotest 214). */
  @Test
  void aReadOfACorruptClusterFailsWithInputOutputError() throws IOException {
    SideBySide both = new SideBySide();
    for (Path dir : List.of(both.theirs, both.ours)) {
      Qemu.createQcow2(dir.resolve("image"), "8M", "-o", "cluster_size=2M,compression_type=zlib");
      Qemu.io(dir.resolve("image"), "qcow2", "write -c -P 0x11 0 2M", "write -c -P 0x11 2M 2M");
      // the first compressed cluster's descriptor loses a sector of its data
      try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(dir.resolve("image"),
          java.nio.file.StandardOpenOption.WRITE)) {
        channel.write(java.nio.ByteBuffer.wrap(new byte[] {0x40, 0x06}), 0x800000);
      }
    }
    both.run("qemu-io", "-c", "read -P 0x11 0 4M", "-c", "readv -P 0x11 0 2M", "-c", "aio_read -P 0x11 0 2M",
        "-c", "aio_flush", "@/image").same();
  }

  /** info, alloc and map on every format qcow4j reads, each made by qemu-img. */
  @ParameterizedTest
  @ValueSource(strings = {"vmdk", "vpc", "vdi", "qed", "qcow", "qcow2", "raw"})
  void infoOfEveryFormatIsQemuIos(String format) {
    SideBySide both = new SideBySide();
    // one image in both places: a VMDK's CID is random
    Path made = TestImages.scratch().resolve("image");
    Qemu.check("qemu-img", "create", "-q", "-f", format, made.toString(), "1M");
    both.copy(made, "image");
    both.run("qemu-io", "-r", "-c", "info", "-c", "alloc 0 1M", "-c", "map", "-c", "length", "@/image").same();
  }

  @Test
  void imageOptionsObjectsAndForceShareAreQemuIos() {
    SideBySide both = sideBySide("qcow2");
    both.run("qemu-io", "--image-opts", "-c", "read 0 1", "-c", "open -o driver=raw x",
        "driver=qcow2,file.filename=@/image").same();
    both.run("qemu-io", "--image-opts", "-U", "-c", "info", "driver=qcow2,file.filename=@/image,force-share=off").same();
    both.run("qemu-io", "-U", "-c", "write 0 1", "@/image").same();
    both.run("qemu-io", "-r", "-U", "-c", "read 0 1", "@/image").same();
    both.run("qemu-io", "--object", "secret,id=s0,data=abc", "-c", "read 0 1", "@/image").same();
    both.run("qemu-io", "--object", "bogus,id=x", "-c", "read 0 1", "@/image").same();
    both.run("qemu-io", "-c", "open -U @/image", "-c", "close", "-c", "open -r -U -o force-share=off @/image").same();
    both.run("qemu-io", "-f", "qcow2", "--image-opts", "x").same();
    both.run("qemu-io", "--image-opts", "-c", "open -r driver=qcow2,file.filename=@/image", "-c", "read 0 1").same();
  }

  /** read/write -b: checked as qemu-io checks them, then refused as QEMU refuses them without a VM state area. */
  @Test
  void vmStateRequestsFailAsForAFormatWithoutVmState() {
    SideBySide both = sideBySide("raw");
    both.run("qemu-io", "-f", "raw", "-c", "write -b 0 512", "-c", "read -b 0 512", "-c", "write -b -c 0 512", "-c",
        "write -b -z 0 512", "-c", "write -b -f 0 512", "-c", "write -b 1 512", "-c", "read -b 0 100", "-c",
        "read -b -P 1 -s 600 0 512", "-c", "write -b -P 3 0 1k", "@/image").same();
  }

  @Test
  void cacheAndAioOptionsAreQemuIos() {
    for (String mode : List.of("writeback", "none", "off", "writethrough", "directsync", "unsafe")) {
      SideBySide both = sideBySide("qcow2");
      both.run("qemu-io", "-t", mode, "-i", "threads", "-c", "write -P 3 0 64k", "-c", "flush", "-c",
          "read -P 3 0 64k", "@/image").same();
      both.run("qemu-io", "--cache=" + mode, "--aio=native", "-n", "-c", "read -P 3 0 64k", "@/image").same();
    }
    SideBySide both = sideBySide("qcow2");
    both.run("qemu-io", "-t", "bogus", "-c", "read 0 1", "@/image").same();
    both.run("qemu-io", "--aio", "bogus", "-c", "read 0 1", "@/image").same();
    both.run("qemu-io", "--aio", "io_uring", "-c", "read 0 1", "@/image").same();
    both.run("qemu-io", "-f", "raw", "-f", "qcow2", "-c", "info", "@/image").same();
    assertThat(CacheMode.setting("none")).isEqualTo(new CacheMode.Setting(true, false, false));
    assertThat(CacheMode.setting("directsync")).isEqualTo(new CacheMode.Setting(true, false, true));
    assertThat(CacheMode.setting("unsafe")).isEqualTo(new CacheMode.Setting(false, true, false));
    assertThat(CacheMode.setting("writethrough")).isEqualTo(CacheMode.Setting.WRITETHROUGH);
    assertThat(CacheMode.setting("writeback")).isEqualTo(new CacheMode.Setting(false, false, false));
    assertThat(CacheMode.setting("bogus")).isNull();
  }

  @Test
  void discardModesIgnoreOrPassOnDiscards() {
    for (String mode : List.of("ignore", "off", "unmap", "on")) {
      SideBySide both = sideBySide("qcow2");
      both.run("qemu-io", "-d", mode, "-c", "write -P 3 0 192k", "-c", "discard 0 64k", "-c", "write -z -u 64k 64k",
          "-c", "discard 1M 64k", "-c", "map", "-c", "read -P 3 128k 64k", "-c", "open -d " + mode + " @/image",
          "@/image").same();
      both.run("qemu-io", "-c", "open -d " + mode + " @/image", "-c", "discard 128k 64k", "-c", "map").same();
    }
  }

  /** -C: what reads find below the image is copied into it, zeros as zero clusters (iotest 197 scaled down). */
  @Test
  void copyOnReadCopiesWhatReadsFindBelowTheImage() {
    SideBySide both = new SideBySide();
    for (Path dir : List.of(both.theirs, both.ours)) {
      Qemu.createQcow2(dir.resolve("base"), "4M");
      Qemu.io(dir.resolve("base"), "qcow2", "write -P 55 3M 1k");
      Qemu.createQcow2(dir.resolve("image"), null, "-b", "base", "-F", "qcow2");
      Qemu.io(dir.resolve("image"), "qcow2", "write -z -u 1M 64k");
    }
    both.run("qemu-io", "-f", "qcow2", "-C", "-c", "read 0 0", "-c", "read -P 0 1k 2047k", "-c", "read -P 55 3M 512",
        "-c", "readv -P 0 3200k 512 512", "@/image").same();
    both.run("qemu-io", "-f", "qcow2", "-C", "-r", "@/image").same();
    both.run("qemu-io", "-c", "open -C -r @/image", "-c", "open -C @/image", "-c", "aio_read 3500k 1k", "-c",
        "aio_flush", "-c", "map").same();
    assertThat(Qemu.check("qemu-img", "map", "--output=json", both.ours.resolve("image").toString()))
        .isEqualTo(Qemu.check("qemu-img", "map", "--output=json", both.theirs.resolve("image").toString()));
    Cli.Result check = Qemu.run("qemu-img", "check", both.ours.resolve("image").toString());
    assertThat(check.exitCode()).as(check.out()).isZero();
  }

  @Test
  void snapshotModeKeepsTheImageAsItWas() {
    SideBySide both = sideBySide("qcow2");
    both.run("qemu-io", "-c", "write -P 4 0 64k", "@/image").same();
    both.run("qemu-io", "-s", "-c", "write -P 5 0 4k", "-c", "read -P 5 0 4k", "-c", "read -P 4 4k 60k", "-c", "map",
        "@/image").same();
    both.run("qemu-io", "-c", "read -P 4 0 64k", "-c", "open -s -o driver=qcow2 @/image", "@/image").same();
    both.run("qemu-io", "-c", "open -s @/image", "-c", "write -P 6 0 512", "-c", "read -P 6 0 512", "-c", "close",
        "-c", "open -r @/image", "-c", "read -P 4 0 512").same();
    both.run("qemu-io", "-r", "-s", "-c", "write -P 6 0 512", "@/image").same();
  }

  @Test
  void commandsComeFromStandardInputAfterThePrompt() {
    SideBySide both = sideBySide("qcow2");
    String script = "write -P 1 0 4k\nread -P 1 0 4k\nbogus\n\n   \nread -P 2 0 4k\nclose\nread 0 1\n"
        + "open @/image\nlength\nquit\nread 0 1\n";
    Cli.Result theirs = Qemu.runWithInput(script.replace("@/", both.theirs + "/"), false, "qemu-io",
        both.theirs.resolve("image").toString());
    Cli.Result ours = Cli.runWithInput(script.replace("@/", both.ours + "/"), "io", both.ours.resolve("image").toString());
    same(theirs, ours);
    assertThat(ours.out()).startsWith("qcow4j> wrote 4096/4096 bytes at offset 0\n").endsWith("qcow4j> ");
    // at the end of the input: the last prompt, nothing after it, and the status of the last failure
    Cli.Result empty = Cli.runWithInput("", "io", both.ours.resolve("image").toString());
    assertThat(empty.out()).isEqualTo("qcow4j> ");
    assertThat(empty.exitCode()).isZero();
    same(Qemu.runWithInput("read 0 1\n", false, "qemu-io"), Cli.runWithInput("read 0 1\n", "io"));
    // lines longer than qemu-io's fgets buffer come as several commands
    String longLines = "read" + " ".repeat(1019) + "0 1\n" + "read 0 1" + " ".repeat(1015) + "\nlength\n";
    same(Qemu.runWithInput(longLines, false, "qemu-io", both.theirs.resolve("image").toString()),
        Cli.runWithInput(longLines, "io", both.ours.resolve("image").toString()));
  }

  @Test
  void stdoutIsWrittenInWholeBlocksAsCsIs() throws IOException {
    StringWriter target = new StringWriter();
    StdioBuffer buffer = new StdioBuffer(target);
    buffer.write("x".repeat(4096));
    buffer.flush();
    assertThat(target.toString()).as("a full buffer is written by the next write, not by flush").isEmpty();
    buffer.write("y");
    assertThat(target.toString()).isEqualTo("x".repeat(4096));
    buffer.write("z".repeat(8191));
    assertThat(target.toString()).as("the buffer filled and written, then the whole blocks of the rest").hasSize(12288);
    buffer.write("w".repeat(4097));
    assertThat(target.toString()).hasSize(16384);
    buffer.drain();
    assertThat(target.toString()).hasSize(16385).endsWith("w".repeat(4097));
  }

  private static SideBySide sideBySide(String format) {
    SideBySide both = new SideBySide();
    for (Path dir : List.of(both.theirs, both.ours)) {
      if (format.equals("raw")) {
        Qemu.check("qemu-img", "create", "-q", "-f", "raw", dir.resolve("image").toString(), "1M");
      } else {
        Qemu.createQcow2(dir.resolve("image"), "1M");
      }
    }
    return both;
  }

  /** The same status and output, the real tool's name and prompt read as qcow4j's, timings masked. */
  private static void same(Cli.Result theirs, Cli.Result ours) {
    assertThat(ours.exitCode()).as("exit status\nqemu: %s\nours: %s", theirs, ours).isEqualTo(theirs.exitCode());
    assertThat(masked(ours.out())).isEqualTo(masked(theirs.out().replace("qemu-io> ", "qcow4j> ")));
    assertThat(ours.err()).isEqualTo(theirs.err().replaceAll("(?m)^qemu-io: ", "qcow4j: "));
  }

  private static String masked(String output) {
    String masked = TIMING.matcher(output).replaceAll("$1<time>");
    return PARSABLE_TIMING.matcher(masked).replaceAll("$1<time>");
  }

  private static String[] prepend(String first, List<String> rest) {
    List<String> all = new ArrayList<>();
    all.add(first);
    all.addAll(rest);
    return all.toArray(String[]::new);
  }

  private static List<String> concat(List<String> first, List<String> second) {
    List<String> all = new ArrayList<>(first);
    all.addAll(second);
    return all;
  }
}
