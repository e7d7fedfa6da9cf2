package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What the convert soak's last campaign left, each run side by side with qemu-img 7.2: a
 * compressed convert onto clusters a target already allocates, the zero ranges convert -n leaves
 * in a raw target, and a corrupt compressed cluster in a source (convert, compare, qemu-io read).
 */
class ConvertFindingsTest {
  /**
   * convert -c -n onto a qcow2 target with allocated clusters fails as qemu-img does: compression
   * cannot overwrite anything (qcow2_alloc_compressed_cluster_offset's EIO), named by the first
   * such cluster's request, "error while writing at byte N: Input/output error", status 1. A zero
   * source cluster over an allocated one is zeroed, not compressed, and does not fail.
   */
  @Test
  void compressedConvertOntoAllocatedClustersFails() {
    SideBySide both = new SideBySide();
    String[][] setup = {
      {"qemu-img", "create", "-q", "-f", "qcow2", "@/src.qcow2", "1M"},
      {"qemu-io", "-f", "qcow2", "-c", "write -P 1 0 64k", "-c", "write -P 2 192k 128k", "@/src.qcow2"},
      {"qemu-img", "create", "-q", "-f", "qcow2", "@/t.qcow2", "1M"},
      // the target's first cluster is allocated but the source's second one is the first data over allocation
      {"qemu-io", "-f", "qcow2", "-c", "write -P 0x77 64k 64k", "-c", "write -P 0x77 256k 4k", "@/t.qcow2"},
    };
    for (String[] command : setup) {
      both.run(command[0], java.util.Arrays.copyOfRange(command, 1, command.length));
    }
    SideBySide.Runs convert = both.run("qemu-img", "convert", "-c", "-n", "-O", "qcow2", "@/src.qcow2", "@/t.qcow2")
        .same();
    assertThat(convert.theirs().err()).isEqualTo("qcow4j: error while writing at byte 262144: Input/output error\n");
    assertThat(convert.theirs().exitCode()).isEqualTo(1);
    // with --target-is-zero on a fresh target it succeeds, and so does -c over zero flags
    both.run("qemu-img", "create", "-q", "-f", "qcow2", "@/z.qcow2", "1M");
    both.run("qemu-io", "-f", "qcow2", "-c", "write -z 0 1M", "@/z.qcow2");
    both.run("qemu-img", "convert", "-c", "-n", "-O", "qcow2", "@/src.qcow2", "@/z.qcow2").same();
    both.run("qemu-img", "compare", "@/src.qcow2", "@/z.qcow2").same();
  }

  /**
   * convert -n onto a raw file leaves the source's zero ranges as holes, as qemu-img's zero writes
   * with MAY_UNMAP punch them: zero and unallocated ranges of the source, and zero runs inside its
   * data, over data the target had.
   */
  @ParameterizedTest
  @ValueSource(strings = {"-n", "-n -W", "-n -S 64k"})
  void convertOntoRawPunchesTheZeros(String options) {
    SideBySide both = new SideBySide();
    both.theirsOnly("qemu-img", "create", "-q", "-f", "qcow2", "@/src.qcow2", "4M");
    Qemu.check("qemu-io", "-f", "qcow2", "-c", "write -P 1 0 64k", "-c", "write -z 1M 512k", "-c", "write -P 2 2M 4k",
        "-c", "write -P 0 3M 8k", "-c", "write -P 3 3080k 4k", "-c", "write -z 3584k 1k", both.theirs.resolve("src.qcow2").toString());
    both.copy(both.theirs.resolve("src.qcow2"), "src.qcow2");
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      Qemu.check("qemu-img", "create", "-q", "-f", "raw", dir.resolve("t.raw").toString(), "4M");
      Qemu.check("qemu-io", "-f", "raw", "-c", "write -P 0x77 0 4M", dir.resolve("t.raw").toString());
    }
    java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("convert"));
    args.addAll(java.util.List.of(options.split(" ")));
    args.addAll(java.util.List.of("-O", "raw", "@/src.qcow2", "@/t.raw"));
    both.run("qemu-img", args.toArray(String[]::new)).same();
    String theirMap = Qemu.check("qemu-img", "map", "--output=json", "-f", "raw", both.theirs.resolve("t.raw").toString());
    String ourMap = Qemu.check("qemu-img", "map", "--output=json", "-f", "raw", both.ours.resolve("t.raw").toString());
    assertThat(ourMap).isEqualTo(theirMap);
    assertThat(blocks(both.ours.resolve("t.raw"))).isEqualTo(blocks(both.theirs.resolve("t.raw")));
    both.run("qemu-img", "compare", "-f", "qcow2", "-F", "raw", "@/src.qcow2", "@/t.raw").same();
  }

  /**
   * With -S 0 qemu-img writes a zero run as a buffer of zeros, whatever the target: a
   * streamOptimized vmdk gets every grain (convert seeds 6792983225818526798 and
   * 4787223717415741902: qcow4j left the zero grains out), an existing raw file or qcow2 image (-n)
   * zero bytes as data.
   */
  @ParameterizedTest
  @ValueSource(strings = {"vmdk", "raw", "qcow2"})
  void zerosAreWrittenAsDataWithoutSparseDetection(String target) {
    SideBySide both = new SideBySide();
    both.theirsOnly("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=8k", "@/src.qcow2", "5M");
    Qemu.check("qemu-io", "-f", "qcow2", "-c", "write -P 1 512k 64k", "-c", "write -z 1M 512k", "-c",
        "write -c -P 2 3M 64k", both.theirs.resolve("src.qcow2").toString());
    both.copy(both.theirs.resolve("src.qcow2"), "src.qcow2");
    java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("convert", "-S", "0", "-O", target));
    if (target.equals("vmdk")) {
      args.addAll(java.util.List.of("-o", "subformat=streamOptimized"));
    } else {
      for (Path dir : new Path[] {both.theirs, both.ours}) {
        Qemu.check("qemu-img", "create", "-q", "-f", target, dir.resolve("t." + target).toString(), "5M");
      }
      args.add("-n");
    }
    args.addAll(java.util.List.of("@/src.qcow2", "@/t." + target));
    both.run("qemu-img", args.toArray(String[]::new)).same();
    Qemu.check("sync", both.theirs.resolve("t." + target).toString(), both.ours.resolve("t." + target).toString());
    boolean offsets = target.equals("raw");
    String theirMap = ConvertCompareSoakTest.extents(Qemu.check("qemu-img", "map", "--output=json", "-f", target,
        both.theirs.resolve("t." + target).toString()), offsets);
    String ourMap = ConvertCompareSoakTest.extents(Qemu.check("qemu-img", "map", "--output=json", "-f", target,
        both.ours.resolve("t." + target).toString()), offsets);
    assertThat(ourMap).isEqualTo(theirMap);
    both.run("qemu-img", "compare", "-f", "qcow2", "-F", target, "@/src.qcow2", "@/t." + target).same();
  }

  /**
   * The file's allocated blocks, as the logical ranges of its extents (filefrag): what du counts
   * but the file system's own extent tree blocks, which depend on the order of the punches.
   */
  private static String blocks(Path file) {
    java.util.List<long[]> ranges = new java.util.ArrayList<>();
    java.util.regex.Matcher extent = java.util.regex.Pattern.compile("(?m)^\\s*\\d+:\\s+(\\d+)\\.\\.\\s*(\\d+):")
        .matcher(Qemu.check("filefrag", "-v", file.toString()));
    while (extent.find()) {
      long first = Long.parseLong(extent.group(1));
      long last = Long.parseLong(extent.group(2));
      // logically contiguous extents in two places on the disk are one range of the file
      if (!ranges.isEmpty() && ranges.getLast()[1] + 1 == first) {
        ranges.getLast()[1] = last;
      } else {
        ranges.add(new long[] {first, last});
      }
    }
    return ranges.stream().map(r -> r[0] + ".." + r[1]).reduce("", (a, b) -> a + b + " ");
  }

  /**
   * A compressed cluster that does not inflate reads as QEMU's EIO: convert names the request it
   * falls in ("error while reading at byte N: Input/output error"), compare the offset it read
   * ("Error while reading offset N of NAME: Input/output error"), qemu-io "read failed:
   * Input/output error".
   */
  @ParameterizedTest
  @ValueSource(strings = {"zlib", "zstd"})
  void corruptCompressedClusterReadsAsInputOutputError(String compression) {
    SideBySide both = new SideBySide();
    both.theirsOnly("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compression_type=" + compression,
        "@/good.qcow2", "4M");
    Qemu.check("qemu-io", "-f", "qcow2", "-c", "write -P 9 0 192k", "-c", "write -c -P 0x11 2M 64k",
        "-c", "write -c -P 0x12 2112k 64k", "-c", "write -P 7 2176k 64k", both.theirs.resolve("good.qcow2").toString());
    Path bad = both.theirs.resolve("bad.qcow2");
    try {
      java.nio.file.Files.copy(both.theirs.resolve("good.qcow2"), bad);
      long host = compressedHostOffset(bad, 2L << 20);
      try (RandomAccessFile file = new RandomAccessFile(bad.toFile(), "rw")) {
        file.seek(host);
        file.write(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 1, 2, 3, 4});
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    both.copy(bad, "bad.qcow2").copy(both.theirs.resolve("good.qcow2"), "good.qcow2");
    both.run("qemu-img", "convert", "-O", "raw", "@/bad.qcow2", "@/out.raw").same();
    SideBySide.Runs toQcow2 = both.run("qemu-img", "convert", "-O", "qcow2", "@/bad.qcow2", "@/out.qcow2").same();
    assertThat(toQcow2.theirs().err()).isEqualTo("qcow4j: error while reading at byte 2097152: Input/output error\n");
    both.run("qemu-img", "convert", "-c", "-O", "qcow2", "@/bad.qcow2", "@/outc.qcow2").same();
    both.run("qemu-img", "convert", "-m", "1", "-O", "qcow2", "-o", "cluster_size=512", "@/bad.qcow2", "@/o512.qcow2")
        .same();
    both.run("qemu-img", "compare", "@/bad.qcow2", "@/good.qcow2").same();
    both.run("qemu-img", "compare", "@/good.qcow2", "@/bad.qcow2").same();
    both.run("qemu-io", "-c", "read -P 0x11 2M 64k", "@/bad.qcow2").same();
    both.run("qemu-io", "-c", "read 0 4M", "@/bad.qcow2").same();
  }

  /** The host offset of a compressed cluster's bytes, from its L2 entry (64 KiB clusters: 62 - 16 offset bits). */
  private static long compressedHostOffset(Path image, long guestOffset) throws IOException {
    try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "r")) {
      file.seek(40);
      long l1 = file.readLong();
      file.seek(l1 + guestOffset / (8192L * 65536) * 8);
      long l2 = file.readLong() & 0x00ff_ffff_ffff_fe00L;
      file.seek(l2 + guestOffset / 65536 % 8192 * 8);
      long entry = file.readLong();
      return entry & ((1L << (62 - 8)) - 1);
    }
  }
}
