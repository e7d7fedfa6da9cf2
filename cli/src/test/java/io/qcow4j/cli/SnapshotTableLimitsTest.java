package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The snapshot table as QEMU 7.2 reads it, side by side with qemu-img: a snapshot whose L1 table
 * is at an invalid offset or too large opens, and fails only where it is used (load, apply, delete,
 * check); an entry with more than 1024 bytes of extra data is refused at open with QEMU's words and
 * hint, and check reports it as qemu-img's does.
 */
class SnapshotTableLimitsTest {
  /** An image with one snapshot 'test' of a written cluster, in both directories; returns the entry's offset. */
  private static long imageWithSnapshot(SideBySide runs) throws IOException {
    Path source = TestImages.scratch().resolve("t.qcow2");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", source.toString(), "64M");
    Qemu.io(source, "qcow2", "write 0 512");
    Qemu.check("qemu-img", "snapshot", "-c", "test", source.toString());
    runs.copy(source, "t.qcow2");
    try (FileChannel channel = FileChannel.open(source)) {
      ByteBuffer pointer = ByteBuffer.allocate(8);
      channel.read(pointer, 64);
      return pointer.flip().getLong();
    }
  }

  private static void poke(SideBySide runs, long offset, byte[] bytes) throws IOException {
    for (Path dir : new Path[] {runs.ours, runs.theirs}) {
      try (FileChannel channel = FileChannel.open(dir.resolve("t.qcow2"), StandardOpenOption.WRITE)) {
        channel.write(ByteBuffer.wrap(bytes), offset);
      }
    }
  }

  @ParameterizedTest
  @CsvSource({"0, 0000000000400200", "8, 10000000"})
  void aBadSnapshotL1TableFailsOnlyWhereItIsUsed(int field, String hex) throws IOException {
    SideBySide runs = new SideBySide();
    long entry = imageWithSnapshot(runs);
    poke(runs, entry + field, java.util.HexFormat.of().parseHex(hex));
    runs.run("qemu-img", "info", "@/t.qcow2").same();
    runs.run("qemu-img", "snapshot", "-l", "@/t.qcow2").same();
    runs.run("qemu-img", "convert", "-l", "test", "@/t.qcow2", "@/t.snap").same();
    runs.run("qemu-img", "snapshot", "-a", "test", "@/t.qcow2").same();
    runs.run("qemu-img", "snapshot", "-d", "test", "@/t.qcow2").same();
    runs.run("qemu-img", "check", "@/t.qcow2").same();
  }

  @ParameterizedTest
  @CsvSource({"00010000", "00000401"})
  void tooMuchExtraDataIsRefusedAtOpenAndByCheck(String extraSize) throws IOException {
    SideBySide runs = new SideBySide();
    long entry = imageWithSnapshot(runs);
    poke(runs, entry + 36, java.util.HexFormat.of().parseHex(extraSize));
    runs.run("qemu-img", "info", "@/t.qcow2").same();
    runs.run("qemu-img", "snapshot", "-l", "@/t.qcow2").same();
    runs.run("qemu-img", "check", "@/t.qcow2").same();
  }

  /** The same exit status and stderr, and stdout but for the image end offset (the layouts may differ). */
  private static void sameRepair(SideBySide.Runs runs) {
    assertThat(runs.ours().exitCode()).as(runs.toString()).isEqualTo(runs.theirs().exitCode());
    assertThat(runs.ours().err()).isEqualTo(runs.theirs().err());
    assertThat(withoutEndOffset(runs.ours().out())).isEqualTo(withoutEndOffset(runs.theirs().out()));
  }

  private static String withoutEndOffset(String out) {
    return out.replaceAll("(?m)^Image end offset: \\d+$", "");
  }

  @Test
  void checkRepairsTooMuchExtraDataAsQemuImg() throws IOException {
    SideBySide runs = new SideBySide();
    Path source = TestImages.scratch().resolve("t.qcow2");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", source.toString(), "64M");
    Qemu.io(source, "qcow2", "write 0 512");
    Qemu.check("qemu-img", "snapshot", "-c", "sn0", source.toString());
    Qemu.check("qemu-img", "snapshot", "-c", "sn1", source.toString());
    runs.copy(source, "t.qcow2");
    long table = imageTableOffset(source);
    // the first entry: 40 bytes, 24 of extra data, id "1" and name "sn0", padded to 8
    poke(runs, table + 72 + 36, java.util.HexFormat.of().parseHex("00010000"));
    runs.run("qemu-img", "check", "@/t.qcow2").same();
    sameRepair(runs.run("qemu-img", "check", "-r", "all", "@/t.qcow2"));
    runs.run("qemu-img", "snapshot", "-l", "@/t.qcow2").same();
  }

  @Test
  void checkDropsSnapshotsPastQemusCountAsQemuImg() throws IOException {
    SideBySide runs = new SideBySide();
    Path source = TestImages.scratch().resolve("t.qcow2");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10", source.toString(), "64M");
    runs.copy(source, "t.qcow2");
    // 131072 all-zero entries at 1 MiB (valid in version 2), twice QEMU's count
    poke(runs, 64, java.util.HexFormat.of().parseHex("0000000000100000"));
    poke(runs, 60, java.util.HexFormat.of().parseHex("00020000"));
    poke(runs, 1048576 + 40 * 131072 - 1, new byte[1]);
    runs.run("qemu-img", "info", "@/t.qcow2").same();
    runs.run("qemu-img", "check", "@/t.qcow2").same();
    sameRepair(runs.run("qemu-img", "check", "-r", "all", "@/t.qcow2"));
    assertThat(Qemu.check("qemu-img", "snapshot", "-l", runs.ours.resolve("t.qcow2").toString()).lines().count())
        .isEqualTo(2 + 65536);
  }

  private static long imageTableOffset(Path image) throws IOException {
    try (FileChannel channel = FileChannel.open(image)) {
      ByteBuffer pointer = ByteBuffer.allocate(8);
      channel.read(pointer, 64);
      return pointer.flip().getLong();
    }
  }
}
