package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.testing.ImageBytes;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * qemu-io's read -b and write -b: qcow2's VM state area past the disk, mapped through a grown L1
 * table (QEMU's growth by half again), kept by internal snapshots; side by side with qemu-io.
 */
class VmStateTest {

  @Test
  void theVmStateAreaIsWrittenReadAndGrowsTheL1TableAsQemuDoes() throws IOException {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      Qemu.createQcow2(dir.resolve("image"), "64M");
    }
    both.run("qemu-io", "-f", "qcow2", "-c", "write -b -P 0x11 1T 4k", "-c", "write -b -P 0x22 0 64k", "@/image").same();
    both.run("qemu-io", "-f", "qcow2", "-c", "read -b -P 0x11 1T 4k", "-c", "read -b -P 0x22 0 64k",
        "-c", "read -b -P 0 64k 4k", "-c", "read -P 0 0 64M", "@/image").same();
    try (ImageBytes theirs = ImageBytes.open(both.theirs.resolve("image"));
        ImageBytes ours = ImageBytes.open(both.ours.resolve("image"))) {
      assertThat(ours.u32(36)).as("l1_size").isEqualTo(theirs.u32(36));
    }
    assertThat(Qemu.check("qemu-img", "check", both.ours.resolve("image").toString()))
        .contains("No errors were found on the image.");
    // the snapshot keeps the area with the disk; applying an older one drops what was written since
    both.run("qemu-img", "snapshot", "-c", "one", "@/image").same();
    both.run("qemu-io", "-f", "qcow2", "-c", "write -b -P 0x33 1T 4k", "@/image").same();
    both.run("qemu-img", "snapshot", "-a", "one", "@/image").same();
    both.run("qemu-io", "-f", "qcow2", "-c", "read -b -P 0x11 1T 4k", "@/image").same();
    assertThat(Qemu.check("qemu-img", "check", both.ours.resolve("image").toString()))
        .contains("No errors were found on the image.");
  }

  @Test
  void unalignedAndRawRequestsFailAsInQemu() throws IOException {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      Qemu.createQcow2(dir.resolve("image"), "1M");
      Qemu.run("qemu-img", "create", "-q", "-f", "raw", dir.resolve("raw").toString(), "1M");
    }
    both.run("qemu-io", "-f", "qcow2", "-c", "write -b 100 512", "-c", "read -b 0 100", "@/image").same();
    both.run("qemu-io", "-f", "raw", "-c", "write -b 0 512", "-c", "read -b 0 512", "@/raw").same();
  }
}
