package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The qcow2 overlap-check options side by side with qemu-io (iotests 060 and 080): the template
 * (none, constant, cached, all; cached by default) and the per-structure flags over it choose
 * which metadata a write may not overlap; the inactive L2 check (off by default) reads the
 * snapshots' L1 tables, and one it cannot read fails every checked write with EINVAL without
 * marking the image corrupt, the close's refcount flush failing the same way.
 */
class OverlapCheckOptionsTest {
  /** An image whose first L2 entry points at the refcount block (host cluster 0x20000), COPIED. */
  private static SideBySide entryIntoRefcountBlock() throws IOException {
    SideBySide runs = new SideBySide();
    runs.run("qemu-img", "create", "-f", "qcow2", "@/t.qcow2", "64M").same();
    runs.run("qemu-io", "-c", "write 0 512", "@/t.qcow2").same();
    poke(runs, 0x40000, 0x8000000000020000L);
    return runs;
  }

  @ParameterizedTest(name = "open -o {0}")
  @ValueSource(strings = {"overlap-check=cached", "overlap-check=none", "overlap-check.refcount-block=off",
      "overlap-check.template=constant", "overlap-check=none,overlap-check.refcount-block=on",
      "overlap-check=all,overlap-check.refcount-block=off", "overlap-check=all"})
  void theOptionsChooseTheStructuresCheckedAsInQemu(String options) throws IOException {
    SideBySide runs = entryIntoRefcountBlock();
    SideBySide.Runs write = runs.run("qemu-io", "-c", "open -o " + options + " @/t.qcow2", "-c", "write -P 0x55 0 512")
        .same();
    boolean refused = write.ours().out().contains("write failed");
    assertThat(refused).as("refused with " + options)
        .isEqualTo(options.endsWith("=cached") || options.endsWith("refcount-block=on") || options.endsWith("=all"));
    runs.run("qemu-img", "info", "@/t.qcow2").same();
  }

  @Test
  void theDefaultChecksTheRefcountBlocks() throws IOException {
    SideBySide runs = entryIntoRefcountBlock();
    runs.run("qemu-io", "-c", "write -P 0x55 0 512", "@/t.qcow2").same();
    assertThat(runs.run("qemu-img", "info", "@/t.qcow2").same().ours().out()).contains("corrupt: true");
  }

  @Test
  void inactiveL2TablesAreCheckedOnlyWhenAsked() throws IOException {
    for (String options : new String[] {"overlap-check=cached", "overlap-check=all", "overlap-check.inactive-l2=on"}) {
      SideBySide runs = new SideBySide();
      runs.run("qemu-img", "create", "-f", "qcow2", "@/t.qcow2", "64M").same();
      runs.run("qemu-io", "-c", "open -o " + options + " @/t.qcow2", "-c", "write -P 1 0 512").same();
      runs.run("qemu-img", "snapshot", "-c", "foo", "@/t.qcow2").same();
      // the active table moves; the snapshot's stays at 0x40000, where an active entry now points
      runs.run("qemu-io", "-c", "open -o " + options + " @/t.qcow2", "-c", "write -P 2 0 512").same();
      poke(runs, 0x80000, 0x8000000000040000L);
      SideBySide.Runs write = runs.run("qemu-io", "-c", "open -o " + options + " @/t.qcow2", "-c", "write -P 3 0 512")
          .same();
      assertThat(write.ours().err().contains("overlaps with inactive L2 table")).as(options)
          .isEqualTo(!options.endsWith("cached"));
      if (options.endsWith("cached")) {
        // written into the snapshot's L2 table unchecked (how each check repairs that is not this test's business)
        assertThat(write.ours().out()).contains("wrote 512/512 bytes at offset 0");
        continue;
      }
      runs.run("qemu-img", "check", "-r", "all", "@/t.qcow2").same();
      // repaired (the entry no longer COPIED), the write copies the cluster: reading it is no overlap
      runs.run("qemu-io", "-c", "open -o " + options + " @/t.qcow2", "-c", "write -P 4 0 512").same();
      runs.run("qemu-io", "-c", "read -P 4 0 512", "@/t.qcow2").same();
    }
  }

  @Test
  void aSnapshotL1TableTheInactiveL2CheckCannotReadFailsEveryWriteWithEinval() throws IOException {
    SideBySide runs = new SideBySide();
    runs.run("qemu-img", "create", "-f", "qcow2", "@/t.qcow2", "64M").same();
    runs.run("qemu-io", "-c", "write 0 512", "@/t.qcow2").same();
    runs.run("qemu-img", "snapshot", "-c", "test", "@/t.qcow2").same();
    poke(runs, 0x70000, 0x400200L);
    runs.run("qemu-img", "amend", "-o", "compat=0.10", "@/t.qcow2").same();
    SideBySide.Runs write = runs.run("qemu-io", "-c", "open -o overlap-check.inactive-l2=on @/t.qcow2",
        "-c", "write 0 4k").same();
    assertThat(write.ours().out()).contains("write failed: Invalid argument");
    assertThat(write.ours().err()).contains("Failed to flush the refcount block cache: Invalid argument")
        .doesNotContain("L2 table cache");
    // nothing was written: the image checks as before, not marked corrupt
    runs.run("qemu-img", "check", "@/t.qcow2").same();
    runs.run("qemu-io", "-c", "write 0 4k", "@/t.qcow2").same();
  }

  private static void poke(SideBySide runs, long offset, long value) throws IOException {
    for (Path dir : new Path[] {runs.theirs, runs.ours}) {
      try (RandomAccessFile file = new RandomAccessFile(dir.resolve("t.qcow2").toFile(), "rw")) {
        file.seek(offset);
        file.writeLong(value);
      }
    }
  }
}
