package io.qcow4j.cli;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * QEMU's largest bitmap (2^32 bits: a 2 TiB disk at 512-byte granularity) is added, measured,
 * written through and checked as qemu-img does it (side by side); in memory it costs what is dirty.
 */
class HugeBitmapTest {

  @Test
  void aBitmapOf2To32BitsIsAddedAndMeasuredAsQemuDoes() {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      Qemu.createQcow2(dir.resolve("image"), "2T", "-o", "cluster_size=2M");
    }
    both.run("qemu-img", "bitmap", "--add", "--granularity", "512", "-f", "qcow2", "@/image", "b1").same();
    both.run("qemu-img", "measure", "-O", "qcow2", "-o", "cluster_size=64k", "-f", "qcow2", "@/image").same();
    both.run("qemu-io", "-f", "qcow2", "-c", "write 1T 64k", "@/image").same();
    both.run("qemu-io", "-f", "qcow2", "-c", "read -P 0xcd 1T 64k", "@/image").same();
    both.run("qemu-img", "check", "@/image").same();
  }
}
