package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.HexFormat;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Damaged extended L2 entries, side by side with qemu-io (iotest 271): a cluster with a subcluster
 * both allocated and zero, or an allocated subcluster without a host offset, is invalid as a whole
 * (QEMU's QCOW2_SUBCLUSTER_INVALID); a read marks the image corrupt with qcow2_get_host_offset's
 * event, a write with calculate_l2_meta's. The zero flag of a standard entry and the bitmap of a
 * compressed cluster are ignored, and an in-place write that changes no subcluster leaves the
 * entry as it is.
 */
class CorruptSubclusterEntryTest {
  private static final long L2 = 0x40000;

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      // setup | byte offset into the L2 table | bytes poked (hex) | command
      "write -q -P 0x11 0 2k | 7 | 01 | read -q -P 0x11 0 1k",
      "write -q -P 0x11 0 2k | 7 | 01 | write -q -P 0x11 0 1k",
      "write -q 32k 128k | 24 | 00000001 | read 0 192k",
      "write -q 32k 128k | 24 | 00000001 | write 0 192k",
      "write -q 32k 128k | 24 | 00000001 | read 80k 2k",
      "write -q 256k 1k | 7 | 01 | read -q 0 1k",
      "write -q 256k 1k | 7 | 01 | write -q 0 1k",
      "write -q 256k 1k | 15 | 01 | read 0 1k",
      "write -q 256k 1k | 15 | 01 | write 0 1k",
      "write -q 256k 1k | 24 | 0000000100000001 | read 0 192k",
      "write -q 256k 1k | 24 | 0000000100000001 | write 0 192k",
      "write -q -P 11 -c 0 64k | 11 | 0180 | read -P 11 0 64k",
      "write -q -P 11 -c 0 64k | 11 | 0180 | write -P 11 0 64k",
  })
  void damagedEntriesLikeQemu(String setup, long at, String bytes, String command) {
    SideBySide both = new SideBySide();
    both.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on", "@/image.qcow2", "1M").same();
    both.run("qemu-io", "-f", "qcow2", "-c", setup, "@/image.qcow2").same();
    poke(both.ours.resolve("image.qcow2"), L2 + at, bytes);
    poke(both.theirs.resolve("image.qcow2"), L2 + at, bytes);
    both.run("qemu-io", "-f", "qcow2", "-c", command, "@/image.qcow2").same();
    // the corrupt bit (incompatible features), and the first L2 entries as the command left them
    assertThat(bytes(both.ours.resolve("image.qcow2"), 72, 8)).as("incompatible features")
        .isEqualTo(bytes(both.theirs.resolve("image.qcow2"), 72, 8));
    assertThat(bytes(both.ours.resolve("image.qcow2"), L2, 48)).as("L2 entries 0-2")
        .isEqualTo(bytes(both.theirs.resolve("image.qcow2"), L2, 48));
  }

  /**
   * check -r all on an extended L2 entry whose host offset is not aligned (iotest 271): with an
   * allocated subcluster it cannot be repaired (the refcounts are rebuilt, the entry stays a
   * corruption, counted once as fixed); without one the entry becomes a zero cluster, as QEMU's
   * fix_l2_entry_by_zero makes it, and its cluster a leak that is repaired too.
   */
  @ParameterizedTest
  @CsvSource({"false", "true"})
  void unalignedEntriesRepairedLikeQemu(boolean zeroedFirst) {
    SideBySide both = new SideBySide();
    both.run("qemu-img", "create", "-q", "-f", "raw", "@/base.raw", "128k").same();
    both.run("qemu-io", "-f", "raw", "-c", "write -q -P 0xff 0 128k", "@/base.raw").same();
    both.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on", "-F", "raw", "-b", "@/base.raw",
        "@/image.qcow2").same();
    both.run("qemu-io", "-f", "qcow2", "-c", "write -q -P 1 4k 2k", "@/image.qcow2").same();
    if (zeroedFirst) {
      both.run("qemu-io", "-f", "qcow2", "-c", "write -q -z 4k 2k", "@/image.qcow2").same();
    }
    poke(both.ours.resolve("image.qcow2"), L2 + 6, "02");
    poke(both.theirs.resolve("image.qcow2"), L2 + 6, "02");
    both.run("qemu-img", "check", "-r", "all", "@/image.qcow2").same();
    // one process each, as the iotest runs them (QEMU's image is unusable after a fatal corruption)
    for (String read : new String[] {"read -q -P 0xff 0 4k", "read -q -P 0 4k 2k", "read -q -P 0xff 6k 122k"}) {
      both.run("qemu-io", "-f", "qcow2", "-c", read, "@/image.qcow2").same();
    }
  }

  private static String bytes(Path file, long offset, int length) {
    try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "r")) {
      byte[] read = new byte[length];
      raf.seek(offset);
      raf.readFully(read);
      return HexFormat.of().formatHex(read);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void poke(Path file, long offset, String hex) {
    try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
      raf.seek(offset);
      raf.write(HexFormat.of().parseHex(hex));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
