package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Writes that fail under errors blkdebug injects at the qcow2 engine's metadata events, side by
 * side with qemu-io in writethrough mode (the failure is the write's, its flush included), then
 * qemu-img check of both images: the same messages, at write and at close, and an image that
 * checks as QEMU's does (at most leaked clusters, never an error).
 */
class InjectedWriteErrorsTest {

  /** A fresh 1G image of {@code clusterSize}-byte clusters in both runs, and the blkdebug rule for {@code event}. */
  private static SideBySide image(String event, int errno, boolean once, int clusterSize) {
    SideBySide runs = new SideBySide();
    String rule = "[inject-error]\nevent = \"" + event + "\"\nerrno = \"" + errno + "\"\nimmediately = \"off\"\nonce = \""
        + (once ? "on" : "off") + "\"\n";
    runs.write("blkdebug.conf", rule);
    assertThat(runs.run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=" + clusterSize, "@/t.qcow2", "1G")
        .same().ours().exitCode()).isZero();
    return runs;
  }

  private static SideBySide.Runs write(SideBySide runs, String command) {
    return runs.run("qemu-io", "--cache", "writethrough", "-f", "qcow2", "-c", command,
        "blkdebug:@/blkdebug.conf:@/t.qcow2").same();
  }

  /**
   * qemu-img check of both images finds no error (leaks are what a failed write may leave, and
   * their count differs with where each engine failed, as iotest 026 allows), and repairing the
   * leaks leaves ours clean.
   */
  private static void checksAsQemu(SideBySide runs) {
    SideBySide.Runs check = runs.run("qemu-img", "check", "@/t.qcow2");
    assertThat(check.theirs().exitCode()).as(check.toString()).isIn(0, 3);
    assertThat(check.ours().exitCode()).as(check.toString()).isIn(0, 3);
    assertThat(check.ours().out()).as(check.toString()).doesNotContain("ERROR");
    assertThat(Cli.run("check", "-q", "-r", "leaks", runs.ours.resolve("t.qcow2").toString()).exitCode()).isZero();
    assertThat(Cli.run("check", runs.ours.resolve("t.qcow2").toString()).exitCode()).isZero();
  }

  @ParameterizedTest(name = "{0} errno {1} once {2} {3}")
  @CsvSource({
      "l1_update, 5, true, write", "l1_update, 5, false, write", "l1_update, 28, true, write -b",
      "l2_update, 5, true, write", "l2_update, 5, false, write -b",
      "l2_alloc_write, 5, true, write", "l2_alloc_write, 5, false, write", "l2_alloc_write, 28, true, write -b",
      "write_aio, 5, true, write", "write_aio, 5, false, write",
      "refblock_load, 5, true, write", "refblock_load, 5, false, write", "refblock_load, 28, false, write -b",
      "refblock_update_part, 5, true, write", "refblock_update_part, 5, false, write",
      "refblock_alloc, 5, true, write", "refblock_alloc, 5, false, write", "refblock_alloc, 28, true, write -b",
      "cluster_alloc, 5, true, write", "cluster_alloc, 5, false, write", "cluster_alloc, 28, false, write -b",
  })
  void metadataEventFailsTheWriteAsQemu(String event, int errno, boolean once, String write) {
    SideBySide runs = image(event, errno, once, 1024);
    if (event.equals("l2_update")) {
      // a simple L2 update, not the allocation of the first table
      runs.run("qemu-io", "-f", "qcow2", "-c", write + " 0 512", "@/t.qcow2").same();
    }
    SideBySide.Runs failed = write(runs, write + " 0 128k");
    assertThat(failed.ours().out()).contains("write failed: ");
    checksAsQemu(runs);
  }

  @ParameterizedTest(name = "{0} once {1}")
  @CsvSource({
      "refblock_alloc_hookup, true", "refblock_alloc_hookup, false",
      "refblock_alloc_write, true", "refblock_alloc_write, false",
      "refblock_alloc_write_blocks, true", "refblock_alloc_write_blocks, false",
      "refblock_alloc_write_table, true", "refblock_alloc_write_table, false",
      "refblock_alloc_switch_table, true", "refblock_alloc_switch_table, false",
  })
  void refcountStructureGrowthFailsAsQemu(String event, boolean once) {
    SideBySide runs = image(event, 28, once, 512);
    SideBySide.Runs failed = write(runs, "write 0 64M");
    assertThat(failed.ours().out()).contains("write failed: No space left on device");
    checksAsQemu(runs);
  }

  @ParameterizedTest(name = "{0} errno {1} once {2}")
  @CsvSource({
      "l1_grow_alloc_table, 5, true", "l1_grow_alloc_table, 28, false",
      "l1_grow_write_table, 5, true", "l1_grow_write_table, 5, false",
      "l1_grow_activate_table, 28, true", "l1_grow_activate_table, 5, false",
  })
  void l1GrowthFailsAsQemu(String event, int errno, boolean once) {
    SideBySide runs = image(event, errno, once, 1024);
    SideBySide.Runs failed = write(runs, "write -b 0 64k");
    assertThat(failed.ours().out()).contains("write failed: ");
    checksAsQemu(runs);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"write 0 1M", "write 0 64k"})
  void clustersOfAFailedDataWriteAreTakenBackNotLeaked(String command) {
    SideBySide runs = image("write_aio", 5, true, 1024);
    SideBySide.Runs writes = runs.run("qemu-io", "--cache", "writethrough", "-f", "qcow2", "-c", command, "-c", command,
        "blkdebug:@/blkdebug.conf:@/t.qcow2").same();
    assertThat(writes.ours().out()).contains("write failed: Input/output error");
    // the second write reuses the clusters the first one allocated: nothing leaks
    runs.run("qemu-img", "check", "@/t.qcow2").same();
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"write 0 1024"})
  void aFailedOverwriteOfAPreallocatedZeroClusterKeepsIt(String command) {
    SideBySide runs = image("write_aio", 5, true, 1024);
    runs.run("qemu-io", "-f", "qcow2", "-c", "write 0 1024", "-c", "write -z 0 1024", "@/t.qcow2").same();
    SideBySide.Runs failed = write(runs, command);
    assertThat(failed.ours().out()).contains("write failed: Input/output error");
    runs.run("qemu-img", "check", "@/t.qcow2").same();
  }

  /** An overlay of a 64M base with 64k of data, and blkdebug's rule for {@code event} (every request after it fails with EIO). */
  private static SideBySide overlayWithData(String event) {
    SideBySide runs = new SideBySide();
    String rule = "[inject-error]\nevent = \"" + event + "\"\n";
    runs.write("blkdebug.conf", rule);
    runs.run("qemu-img", "create", "-q", "-f", "qcow2", "@/t.qcow2.base", "64M").same();
    runs.run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "@/t.qcow2.base", "-F", "qcow2", "@/t.qcow2", "64M").same();
    runs.run("qemu-io", "-c", "write 0 64k", "-c", "write -P 7 1M 64k", "@/t.qcow2").same();
    return runs;
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"l1_update", "empty_image_prepare", "reftable_update", "refblock_alloc"})
  void commitsEmptyingFailsAsQemuAndTheNextOpenRepairs(String event) {
    SideBySide runs = overlayWithData(event);
    SideBySide.Runs commit = runs.run("qemu-img", "commit", "blkdebug:@/blkdebug.conf:@/t.qcow2").same();
    assertThat(commit.ours().err()).contains("Failed to empty blkdebug:@/blkdebug.conf:@/t.qcow2: Input/output error");
    // the dirty bit makes the next read-write open repair what the failure left (leaks, or refcounts rebuilt)
    runs.run("qemu-io", "-c", "close", "@/t.qcow2").same();
    runs.run("qemu-img", "check", "@/t.qcow2").same();
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"cluster_free"})
  void commitEmptiesTheImageWholesaleAsQemu(String unusedEvent) {
    SideBySide runs = overlayWithData(unusedEvent);
    runs.run("qemu-img", "commit", "@/t.qcow2").same();
    runs.run("qemu-img", "check", "@/t.qcow2").same();
    // the overlay is emptied: everything reads through to the base again (where the base placed the
    // copied clusters depends on the order of QEMU's commit job, so the map's offsets are not compared)
    runs.run("qemu-img", "map", "--output=json", "@/t.qcow2").ours().out().lines()
        .forEach(line -> assertThat(line).contains("\"depth\": 1"));
    assertThat(runs.ours.resolve("t.qcow2").toFile().length()).isEqualTo(runs.theirs.resolve("t.qcow2").toFile().length());
    runs.run("qemu-io", "-c", "write -P 9 2M 64k", "-c", "read -P 9 2M 64k", "-c", "read -P 7 1M 64k", "@/t.qcow2").same();
    runs.run("qemu-img", "check", "@/t.qcow2").same();
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"cluster_free"})
  void snapshotDeletionWhoseFreesFailLeaksAsQemu(String event) {
    SideBySide runs = new SideBySide();
    String rule = "[inject-error]\nevent = \"" + event + "\"\nerrno = \"5\"\n";
    runs.write("blkdebug.conf", rule);
    runs.run("qemu-img", "create", "-q", "-f", "qcow2", "@/t.qcow2", "64M").same();
    runs.run("qemu-io", "-c", "write 0 64k", "@/t.qcow2").same();
    runs.run("qemu-img", "snapshot", "-c", "foo", "@/t.qcow2").same();
    // the old snapshot table's free fails (reported, leaked), then the snapshot's tree cannot be read
    SideBySide.Runs delete = runs.run("qemu-img", "snapshot", "-d", "foo", "blkdebug:@/blkdebug.conf:@/t.qcow2").same();
    assertThat(delete.ours().err()).startsWith("qcow2_free_clusters failed: Input/output error\n");
    runs.run("qemu-img", "snapshot", "-l", "@/t.qcow2").same();
    // only leaks, which -r leaks repairs (the COPIED flags with them)
    runs.run("qemu-img", "check", "@/t.qcow2").same();
    runs.run("qemu-img", "check", "-r", "leaks", "@/t.qcow2").same();
    runs.run("qemu-img", "check", "@/t.qcow2").same();
  }

  @ParameterizedTest(name = "once {0}")
  @CsvSource({"true", "false"})
  void backingAndVmStateReadsAreEventsOfTheImageFile(boolean once) {
    SideBySide runs = new SideBySide();
    for (String event : new String[] {"read_backing_aio", "vmstate_load", "vmstate_save"}) {
      String rule = "[inject-error]\nevent = \"" + event + "\"\nerrno = \"5\"\nonce = \"" + (once ? "on" : "off") + "\"\n";
      runs.write(event + ".conf", rule);
    }
    runs.run("qemu-img", "create", "-q", "-f", "qcow2", "@/t.qcow2.base", "64M").same();
    runs.run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "@/t.qcow2.base", "-F", "qcow2", "@/t.qcow2", "64M").same();
    runs.run("qemu-io", "-c", "write -P 7 1M 64k", "-c", "write -b -P 8 0 64k", "@/t.qcow2").same();
    // the backing read passes; the rule it armed fails the image file's next read
    SideBySide.Runs backing = runs.run("qemu-io", "-c", "read 0 64k", "-c", "read -P 7 1M 64k", "-c", "read 0 64k",
        "-c", "read -P 7 1M 64k", "blkdebug:@/read_backing_aio.conf:@/t.qcow2").same();
    assertThat(backing.ours().out()).contains("read failed: Input/output error");
    SideBySide.Runs load = runs.run("qemu-io", "-c", "read -b -P 8 0 64k", "-c", "read -b -P 8 0 64k",
        "-c", "read -P 7 1M 64k", "blkdebug:@/vmstate_load.conf:@/t.qcow2").same();
    assertThat(load.ours().out()).contains("read failed: Input/output error");
    SideBySide.Runs save = runs.run("qemu-io", "--cache", "writethrough", "-c", "write -b -P 9 64k 64k",
        "blkdebug:@/vmstate_save.conf:@/t.qcow2").same();
    assertThat(save.ours().out()).contains("write failed: Input/output error");
    checksAsQemu(runs);
  }
}
