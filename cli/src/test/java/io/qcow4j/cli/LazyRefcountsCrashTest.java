package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.testing.ImageBytes;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Lazy refcounts with the dirty bit, as QEMU keeps them: a process killed after a write leaves
 * the refcount of the data cluster unwritten (only what an L2 table's allocation needed reached
 * the file), the dirty bit set, and check finds what qemu-img's check finds (side by side, iotest 039).
 */
class LazyRefcountsCrashTest {

  /** A dirty image as QEMU's killed writer leaves it, in both directories. */
  private static SideBySide killedWriter() throws IOException {
    SideBySide both = new SideBySide();
    Path image = TestImages.scratch().resolve("image");
    Qemu.createQcow2(image, "128M", "-o", "compat=1.1,lazy_refcounts=on");
    Qemu.run("qemu-io", "-c", "write -P 0x5a 0 512", "-c", "sigraise 9", image.toString());
    return both.copy(image, "image");
  }

  /**
   * check -r all rebuilds the refcount structures as QEMU's rebuild_refcount_structure does (a
   * referenced cluster with refcount 0), and a read-write open repairs the image printing the
   * same lines.
   */
  @Test
  void theRepairRebuildsTheRefcountStructureAsQemuDoes() throws IOException {
    SideBySide both = killedWriter();
    both.run("qemu-img", "check", "-r", "all", "@/image").same();
    try (ImageBytes theirs = ImageBytes.open(both.theirs.resolve("image"));
        ImageBytes ours = ImageBytes.open(both.ours.resolve("image"))) {
      assertThat(ours.u64(48)).as("refcount table offset").isEqualTo(theirs.u64(48));
    }
    both.run("qemu-img", "check", "@/image").same();

    SideBySide opened = killedWriter();
    opened.run("qemu-io", "-c", "write 0 512", "@/image").same();
    opened.run("qemu-img", "check", "@/image").same();
  }

  /** An image opened through a node graph (the file under blkdebug) is repaired at a read-write open too. */
  @Test
  void aDirtyImageOpenedThroughNodesIsRepairedAsQemuDoes() throws IOException {
    SideBySide opened = killedWriter();
    String spec = "json:{\"driver\": \"qcow2\", \"file\": {\"driver\": \"blkdebug\", "
        + "\"image\": {\"driver\": \"file\", \"filename\": \"@/image\"}}}";
    opened.run("qemu-io", "-c", "write -P 0x33 512 512", spec).same();
    opened.run("qemu-img", "check", "@/image").same();
    opened.run("qemu-io", "-c", "read -P 0x5a 0 512", "-c", "read -P 0x33 512 512", "@/image").same();
  }

  @Test
  void aKilledWriterLeavesTheRefcountsQemuLeaves() throws IOException {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      Qemu.createQcow2(dir.resolve("image"), "128M", "-o", "compat=1.1,lazy_refcounts=on");
    }
    // sigraise kills the process: ours runs as a process of its own
    Cli.Result theirs = Qemu.run("qemu-io", "-c", "write -P 0x5a 0 512", "-c", "sigraise 9",
        both.theirs.resolve("image").toString());
    Cli.Result ours = Qemu.run(ToolProcess.command("io", "-c", "write -P 0x5a 0 512", "-c", "sigraise 9",
        both.ours.resolve("image").toString()));
    assertThat(ours.exitCode()).as(ours.err()).isEqualTo(theirs.exitCode());
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      try (ImageBytes bytes = ImageBytes.open(dir.resolve("image"))) {
        assertThat(bytes.u64(ImageBytes.INCOMPATIBLE_FEATURES) & 1).as("dirty bit of " + dir).isEqualTo(1);
      }
    }
    both.run("qemu-img", "check", "@/image").same();
    both.run("qemu-io", "-r", "-c", "read -P 0x5a 0 512", "@/image").same();
  }

  /** lazy-refcounts=on given at run time defers refcounts on an image without the compat bit, as QEMU's option does. */
  @Test
  void theRuntimeOptionTurnsLazyRefcountsOn() throws IOException {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      Qemu.createQcow2(dir.resolve("image"), "128M", "-o", "compat=1.1,lazy_refcounts=off");
    }
    Qemu.run("qemu-io", "-c", "reopen -o lazy-refcounts=on", "-c", "write -P 0x5a 0 512", "-c", "sigraise 9",
        both.theirs.resolve("image").toString());
    Qemu.run(ToolProcess.command("io", "-c", "reopen -o lazy-refcounts=on", "-c", "write -P 0x5a 0 512", "-c",
        "sigraise 9", both.ours.resolve("image").toString()));
    both.run("qemu-img", "check", "@/image").same();
  }
}
