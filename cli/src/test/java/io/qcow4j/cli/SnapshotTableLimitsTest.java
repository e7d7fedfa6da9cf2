package io.qcow4j.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
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
}
