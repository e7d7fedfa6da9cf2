package io.qcow4j.cli;

import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * convert -S 0 into a new image without a backing file writes every range, the zeros and the
 * unallocated ones too, as data (qemu-img's BLK_ZERO with min_sparse 0): map shows one data
 * extent, compressed or not (side by side, iotest 122).
 */
class ConvertFullAllocationTest {

  @ParameterizedTest
  @ValueSource(strings = {"-S 0", "-c -S 0"})
  void everyRangeIsWrittenAsData(String options) {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      Qemu.createQcow2(dir.resolve("source"), "64M");
      Qemu.io(dir.resolve("source"), "qcow2", "write -P 0x22 0 3M");
      Qemu.io(dir.resolve("source"), "qcow2", "write -P 0 3M 3M");
    }
    java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("convert", "-O", "qcow2"));
    args.addAll(java.util.List.of(options.split(" ")));
    args.addAll(java.util.List.of("@/source", "@/target"));
    both.run("qemu-img", args.toArray(String[]::new)).same();
    both.run("qemu-img", "map", "--output=json", "@/target").same();
    both.run("qemu-io", "-c", "read -P 0x22 0 3M", "-c", "read -P 0 3M 61M", "@/target").same();
  }
}
