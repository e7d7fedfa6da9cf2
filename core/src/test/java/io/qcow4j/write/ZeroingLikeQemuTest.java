package io.qcow4j.write;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.ops.ImageWrites;
import io.qcow4j.ops.ImageWrites.RequestException;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Discard and write-zeroes leave what QEMU 7.2 leaves: the same qemu-io commands run by qemu-io on
 * one image and as library calls on an identical one give the same `qemu-img map --output=json`,
 * the same guest bytes and the same `qemu-img check` (image end offset included). The cases are
 * the faults QEMU's iotests found: a discard on a v2 overlay punched clusters the backing file
 * could not show through, partial clusters were zeroed by discard, write-zeroes over part of a
 * cluster that reads as zeros allocated it, and v2 without a backing file wrote zeros where QEMU
 * discards.
 */
class ZeroingLikeQemuTest {
  private static final String SIZE = "1M";

  @TempDir Path dir;

  /** How the image is made: its -o options and its backing file (none, all data, data at 64k+64k). */
  enum Backing { NONE, FULL, PARTIAL }

  record Case(String name, String options, Backing backing, List<String> commands) {
    @Override
    public String toString() {
      return name + " [" + options + ", backing " + backing + "] " + commands;
    }
  }

  static Stream<Case> cases() {
    return Stream.of(
        new Case("v2 overlay discard keeps the data", "compat=0.10", Backing.FULL,
            List.of("write -P 0x22 0 128k", "discard 0 128k")),
        new Case("v2 overlay discard of unallocated clusters changes nothing", "compat=0.10", Backing.PARTIAL,
            List.of("discard 0 256k")),
        new Case("v3 discard keeps partial clusters", "compat=1.1", Backing.NONE,
            List.of("write -P 0x22 0 192k", "discard 1k 70k", "discard 130k 4k")),
        new Case("v3 overlay discard keeps partial clusters", "compat=1.1", Backing.FULL,
            List.of("write -P 0x22 0 192k", "discard 32k 128k")),
        new Case("v2 discard keeps partial clusters", "compat=0.10", Backing.NONE,
            List.of("write -P 0x22 0 192k", "discard 1k 70k")),
        new Case("extended L2 discard keeps partial clusters", "compat=1.1,extended_l2=on", Backing.FULL,
            List.of("write -P 0x22 0 192k", "discard 1k 70k")),
        new Case("data file discard keeps partial clusters", "compat=1.1,data_file=image.data,data_file_raw=on",
            Backing.NONE, List.of("write -P 0x22 0 192k", "discard 1k 140k")),
        new Case("v2 write -z over a whole cluster discards it", "compat=0.10", Backing.NONE,
            List.of("write -P 0x22 0 128k", "write -z 0 64k", "write -z -u 64k 64k")),
        new Case("v2 write -z over unallocated clusters takes their L2 table", "compat=0.10", Backing.NONE,
            List.of("write -z 4k 120k", "write -z 512k 64k")),
        new Case("v2 overlay write -z writes zeros", "compat=0.10", Backing.PARTIAL,
            List.of("write -z 4k 8k", "write -z 64k 64k")),
        new Case("v3 write -z in part of an unallocated cluster zeroes it whole", "compat=1.1", Backing.NONE,
            List.of("write -z 4k 8k", "write -z 100k 4k")),
        new Case("v3 overlay write -z where the rest reads as zeros", "compat=1.1", Backing.PARTIAL,
            List.of("write -z 60k 8k", "write -z 4k 4k", "write -z 140k 4k")),
        new Case("v3 write -z in part of a data cluster writes zeros", "compat=1.1", Backing.NONE,
            List.of("write -P 0x22 0 64k", "write -z 4k 8k", "write -z 0 64k", "write -z 4k 4k")),
        new Case("extended L2 write -z in part of a subcluster", "compat=1.1,extended_l2=on", Backing.PARTIAL,
            List.of("write -z 1k 1k", "write -z 65k 8k", "write -P 0x22 200k 2k", "write -z 201k 2k")),
        new Case("extended L2 write -z -u", "compat=1.1,extended_l2=on", Backing.NONE,
            List.of("write -P 0x22 0 192k", "write -z -u 4k 120k", "write -z 130k 1k")),
        new Case("write -z -n zeroes the pieces before the one that needs zero bytes", "compat=1.1", Backing.PARTIAL,
            List.of("write -z -n 60k 8k")),
        new Case("write -z -n by subclusters", "compat=1.1,extended_l2=on", Backing.PARTIAL,
            List.of("write -z -n 1k 64k")));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void discardAndWriteZeroesLeaveWhatQemuLeaves(Case testCase) throws IOException {
    Path qemuDir = Files.createDirectories(dir.resolve("qemu"));
    Path ourDir = Files.createDirectories(dir.resolve("ours"));
    for (Path where : List.of(qemuDir, ourDir)) {
      make(QemuTools.in(where), where, testCase);
    }
    // write -z -n fails where qcow2 would have to write zero bytes; the other commands succeed.
    QemuTools.Result io = QemuTools.in(qemuDir).run(QemuTools.DEFAULT_TIMEOUT, "qemu-io",
        qemuIoArguments(testCase.commands()));
    assertThat(io.stdout().lines().filter(line -> line.endsWith("failed: Operation not supported")).count())
        .as("qemu-io output " + io.stdout()).isEqualTo(testCase.commands().stream().filter(c -> c.contains("-n")).count());
    try (QcowFile image = QcowFile.open(ourDir.resolve("image.qcow2"), OpenOptions.readWriteDefaults())) {
      for (String command : testCase.commands()) {
        apply(image, command);
      }
    }
    String qemuMap = QemuTools.in(qemuDir).img("map", "--output=json", "image.qcow2").stdout();
    String ourMap = QemuTools.in(ourDir).img("map", "--output=json", "image.qcow2").stdout();
    assertThat(ourMap).as("qemu-img map after " + testCase).isEqualTo(qemuMap);
    // Each image read in its own directory, where its relative data file name resolves.
    QemuTools.in(qemuDir).img("convert", "-O", "raw", "image.qcow2", "image.raw");
    QemuTools.in(ourDir).img("convert", "-O", "raw", "image.qcow2", "image.raw");
    assertThat(Files.readAllBytes(ourDir.resolve("image.raw"))).as("guest bytes after " + testCase)
        .isEqualTo(Files.readAllBytes(qemuDir.resolve("image.raw")));
    String qemuCheck = QemuTools.in(qemuDir).img("check", "image.qcow2").stdout();
    String ourCheck = QemuTools.in(ourDir).img("check", "image.qcow2").stdout();
    assertThat(ourCheck).as("qemu-img check after " + testCase).isEqualTo(qemuCheck);
  }

  private static void make(QemuTools tools, Path where, Case testCase) {
    // a data file named absolutely: QEMU opens a relative name from the working directory, which
    // is this JVM's for our runs
    String options = testCase.options().replace("data_file=", "data_file=" + where + "/");
    if (testCase.backing() == Backing.NONE) {
      tools.img("create", "-q", "-f", "qcow2", "-o", options, "image.qcow2", SIZE);
      return;
    }
    String baseOptions = testCase.options().contains("extended_l2") ? "compat=1.1,extended_l2=on" : "compat=1.1";
    tools.img("create", "-q", "-f", "qcow2", "-o", baseOptions, "base.qcow2", SIZE);
    tools.io("-c", testCase.backing() == Backing.FULL ? "write -P 0x11 0 1M" : "write -P 0x11 64k 64k", "base.qcow2");
    tools.img("create", "-q", "-f", "qcow2", "-o", options, "-b", "base.qcow2", "-F", "qcow2",
        "image.qcow2");
  }

  private static Object[] qemuIoArguments(List<String> commands) {
    Object[] arguments = new Object[commands.size() * 2 + 1];
    for (int index = 0; index < commands.size(); index++) {
      arguments[2 * index] = "-c";
      arguments[2 * index + 1] = commands.get(index);
    }
    arguments[arguments.length - 1] = "image.qcow2";
    return arguments;
  }

  /** The library call for one of the qemu-io commands the cases use. */
  private static void apply(DiskFile disk, String command) throws IOException {
    List<String> words = Arrays.asList(command.split(" "));
    long offset = size(words.get(words.size() - 2));
    long length = size(words.getLast());
    if (words.contains("-n")) {
      RequestException refused = null;
      try {
        ImageWrites.writeZeroes(disk, offset, length, words.contains("-u"), true, false);
      } catch (RequestException e) {
        refused = e;
      }
      assertThat(refused).as(command).isNotNull();
    } else if (words.getFirst().equals("discard")) {
      disk.discard(offset, length);
    } else if (words.contains("-P")) {
      byte[] data = new byte[(int) length];
      Arrays.fill(data, (byte) Integer.parseInt(words.get(words.indexOf("-P") + 1).substring(2), 16));
      disk.writeFully(ByteBuffer.wrap(data), offset);
    } else if (words.contains("-u")) {
      disk.writeZeroesUnmap(offset, length);
    } else {
      disk.writeZeroes(offset, length);
    }
  }

  private static long size(String text) {
    char unit = text.charAt(text.length() - 1);
    return switch (unit) {
      case 'k' -> Long.parseLong(text.substring(0, text.length() - 1)) << 10;
      case 'M' -> Long.parseLong(text.substring(0, text.length() - 1)) << 20;
      default -> Long.parseLong(text);
    };
  }
}
