package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * QED and qcow (version 1) images (-f qed / -O qed, -f qcow / -O qcow) side by side with qemu-img
 * 7.2: create prints what qemu-img prints, refuses what it refuses with its words and exit status
 * (leaving the empty file it leaves), and makes the same file byte for byte; convert of an image
 * that qemu-io wrote with patterns, zeros and discards makes qemu-img's file byte for byte too
 * (neither format has a random field), which qemu-img check and compare accept.
 */
class QedQcowWriteCommandTest {
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "qed||10M", "qed|cluster_size=4096,table_size=1|10M", "qed|table_size=16|1G", "qed|cluster_size=3000|10M",
      "qed|table_size=3|10M", "qed|table_size=0|10M", "qed|cluster_size=128M|10M", "qed||0",
      "qed|cluster_size=4096,table_size=1|1G", "qed|backing_fmt=nosuch|1M", "qed|preallocation=metadata|1M",
      "qed|preallocation=bad|1M", "qcow||10M", "qcow||1000001", "qcow||0", "qcow|encryption=on|1M",
      "qcow|encrypt.format=aes|1M", "qcow|encrypt.format=luks|1M", "qcow|encrypt.format=bogus|1M",
      "qcow|backing_fmt=foo|1M", "qcow|backing_fmt=raw|1M", "qcow|preallocation=full|1M",
      "qcow|preallocation=metadata|1M", "qcow|encryption=maybe|1M", "qed|help|", "qcow|help|"})
  void createMakesTheFileQemuImgMakes(String format, String options, String size) throws IOException {
    SideBySide runs = new SideBySide();
    String file = "@/disk." + format;
    if (options == null) {
      runs.run("qemu-img", "create", "-f", format, file, size).same();
    } else if (size == null) {
      runs.run("qemu-img", "create", "-f", format, "-o", options).same();
    } else {
      runs.run("qemu-img", "create", "-f", format, "-o", options, file, size).same();
    }
    Path theirs = runs.theirs.resolve("disk." + format);
    Path ours = runs.ours.resolve("disk." + format);
    assertThat(Files.exists(ours)).as("file made").isEqualTo(Files.exists(theirs));
    if (Files.exists(theirs)) {
      assertThat(Files.readAllBytes(ours)).isEqualTo(Files.readAllBytes(theirs));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"qed", "qcow"})
  void createWithBackingFileMakesQemuImgsFile(String format) throws IOException {
    SideBySide runs = new SideBySide();
    Path base = TestImages.scratch().resolve("base.raw");
    Qemu.check("qemu-img", "create", "-q", "-f", "raw", base.toString(), "3M");
    Qemu.io(base, "raw", "write -P 0x11 0 1M");
    runs.copy(base, "base.raw");
    runs.run("qemu-img", "create", "-f", format, "-b", "base.raw", "-F", "raw", "@/child." + format).same();
    Path ours = runs.ours.resolve("child." + format);
    assertThat(Files.readAllBytes(ours)).isEqualTo(Files.readAllBytes(runs.theirs.resolve("child." + format)));
    // the chain reads through: the child reads as its backing file
    assertThat(Qemu.check("qemu-img", "compare", "-F", format, base.toString(), ours.toString()))
        .isEqualTo("Images are identical.\n");
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {"qed|", "qed|cluster_size=4096,table_size=2", "qed|cluster_size=1M",
      "qcow|"})
  void convertWritesQemuImgsFile(String format, String options) throws IOException {
    Path dir = TestImages.scratch();
    Path source = dir.resolve("source.qcow2");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", source.toString(), "100M");
    Qemu.io(source, "qcow2", "write -P 0x11 0 1M", "write -P 0x22 5M 100k", "write -z 8M 2M",
        "write -P 0x33 9M 4k", "write -P 0x44 20M 3M", "discard 21M 1M", "write -P 0x55 99M 1M",
        "write -P 0 50M 1M", "write -P 0x66 100351k 1k");
    Path theirs = dir.resolve("theirs." + format);
    Path ours = dir.resolve("ours." + format);
    String[] o = options == null ? new String[0] : new String[] {"-o", options};
    Qemu.check(concat(new String[] {"qemu-img", "convert", "-O", format}, o, source.toString(), theirs.toString()));
    Cli.Result converted = Cli.run(concat(new String[] {"convert", "-O", format}, o, source.toString(),
        ours.toString()));
    assertThat(converted.exitCode()).as(converted.err()).isZero();
    assertThat(Files.readAllBytes(ours)).isEqualTo(Files.readAllBytes(theirs));
    if (format.equals("qed")) {
      assertThat(Qemu.check("qemu-img", "check", ours.toString())).contains("No errors were found on the image.");
    }
    assertThat(Qemu.check("qemu-img", "compare", "-F", format, source.toString(), ours.toString()))
        .isEqualTo("Images are identical.\n");
  }

  /** QEMU cannot open a QED image with one-cluster tables: convert makes the file, then fails as qemu-img does. */
  @org.junit.jupiter.api.Test
  void convertToOneClusterTablesFailsAsQemuImg() throws IOException {
    SideBySide runs = new SideBySide();
    Path source = TestImages.scratch().resolve("source.raw");
    Qemu.check("qemu-img", "create", "-q", "-f", "raw", source.toString(), "1M");
    runs.copy(source, "source.raw");
    runs.run("qemu-img", "convert", "-f", "raw", "-O", "qed", "-o", "cluster_size=4096,table_size=1", "@/source.raw",
        "@/out.qed").same();
    assertThat(Files.readAllBytes(runs.ours.resolve("out.qed")))
        .isEqualTo(Files.readAllBytes(runs.theirs.resolve("out.qed")));
  }

  private static String[] concat(String[] head, String[] middle, String... tail) {
    String[] all = new String[head.length + middle.length + tail.length];
    System.arraycopy(head, 0, all, 0, head.length);
    System.arraycopy(middle, 0, all, head.length, middle.length);
    System.arraycopy(tail, 0, all, head.length + middle.length, tail.length);
    return all;
  }
}
