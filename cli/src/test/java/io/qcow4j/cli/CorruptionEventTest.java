package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.testing.ImageBytes;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * A corruption found while writing is announced as QEMU's qcow2_signal_corruption announces it
 * ("qcow2: Marking image as corrupt: ...; further corruption events will be suppressed" on
 * stderr), the request fails with EIO, and the image is marked corrupt: side by side with qemu-io.
 */
class CorruptionEventTest {

  @Test
  void anUnalignedRefcountBlockOffsetIsQemusEvent() throws IOException {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      Path image = dir.resolve("image");
      Qemu.createQcow2(image, "1M", "-o", "refcount_bits=64,cluster_size=1k");
      Qemu.io(image, "qcow2", "write 0 124k");
      Qemu.io(image, "qcow2", "discard 121k 1k");
      Qemu.io(image, "qcow2", "discard 123k 1k");
      try (ImageBytes bytes = ImageBytes.open(image)) {
        long refcountTable = bytes.u64(48);
        bytes.putU8(refcountTable + 14, 0x06);
      }
    }
    SideBySide.Runs runs = both.run("qemu-io", "-f", "qcow2", "-c", "write 121k 3k", "@/image").same();
    assertThat(runs.ours().err()).isEqualTo("qcow2: Marking image as corrupt: Refblock offset 0x20600 unaligned"
        + " (reftable index: 0x1); further corruption events will be suppressed\n");
    assertCorruptBit(both.ours.resolve("image"));
  }

  @Test
  void theHeaderClusterCountedFreeIsRefusedAsQemuRefusesIt() throws IOException {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      Path image = dir.resolve("image");
      Qemu.createQcow2(image, "64M");
      try (ImageBytes bytes = ImageBytes.open(image)) {
        bytes.putU64(0x20000, 0);
      }
    }
    SideBySide.Runs runs = both.run("qemu-io", "-f", "qcow2", "-c", "write 64k 64k", "@/image").same();
    assertThat(runs.ours().out()).isEqualTo("write failed: Input/output error\n");
    assertThat(runs.ours().err()).contains("Preventing invalid allocation of L2 table at offset 0");
    assertCorruptBit(both.ours.resolve("image"));
  }

  /**
   * After a fatal corruption the image is unusable for the rest of the process, as QEMU's
   * bs->drv = NULL makes it: every later request fails with ENOMEDIUM ("No medium found"), a flush
   * succeeds without effect, and nothing more is written.
   */
  @Test
  void aFatalCorruptionMakesTheImageUnusableForLaterRequests() throws IOException {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      unalignedDataCluster(dir.resolve("image"));
    }
    SideBySide.Runs runs = both.run("qemu-io", "-f", "qcow2", "-c", "read 0 512", "-c", "read 0 512",
        "-c", "length", "-c", "write 0 512", "-c", "flush", "-c", "map", "-c", "discard 0 64k",
        "-c", "write -z 0 512", "-c", "alloc 0 512", "-c", "read 1M 512", "-c", "aio_read 0 512",
        "-c", "aio_flush", "@/image").same();
    assertThat(runs.ours().out()).startsWith("read failed: Input/output error\nread failed: No medium found\n"
        + "getlength: No medium found\nwrite failed: No medium found\n");
    assertThat(runs.ours().err()).isEqualTo("qcow2: Marking image as corrupt: Cluster allocation offset 0x52a00"
        + " unaligned (L2 offset: 0x40000, L2 index: 0); further corruption events will be suppressed\n"
        + "qcow4j: Failed to query image length: No medium found\n"); // SideBySide names both tools so
    assertCorruptBit(both.ours.resolve("image"));
    assertThat(both.ours.resolve("image")).hasSameBinaryContentAs(both.theirs.resolve("image"));
  }

  /**
   * A read-only image is never marked: its first corruption is reported as non-fatal, once (QEMU's
   * qcow2_signal_corruption on a node it cannot write), the request fails with EIO, and the image
   * stays usable.
   */
  @Test
  void aReadOnlyImageReportsItsFirstCorruptionAsNonFatal() throws IOException {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      unalignedDataCluster(dir.resolve("image"));
    }
    SideBySide.Runs runs = both.run("qemu-io", "-r", "-f", "qcow2", "-c", "read 0 512", "-c", "read 0 512",
        "-c", "map", "-c", "read -P 0 1M 512", "@/image").same();
    assertThat(runs.ours().out()).startsWith("read failed: Input/output error\nread failed: Input/output error\n"
        + "read 512/512 bytes at offset 1048576\n");
    assertThat(runs.ours().err()).isEqualTo("qcow2: Image is corrupt: Cluster allocation offset 0x52a00"
        + " unaligned (L2 offset: 0x40000, L2 index: 0); further non-fatal corruption events will be suppressed\n"
        + "qcow4j: Failed to get allocation status: Input/output error\n"); // SideBySide names both tools so
    try (ImageBytes bytes = ImageBytes.open(both.ours.resolve("image"))) {
      assertThat(bytes.u64(ImageBytes.INCOMPATIBLE_FEATURES) & 2).as("the corrupt bit").isZero();
    }
  }

  /**
   * qcow4j's overlap check of an L2 table read (here the L1 table, which its own first entry points
   * at, iotest 060) has no counterpart on QEMU's read path: a read-only image reports no corruption
   * event for it, as qemu-io prints none. (qemu-io reads the cluster; qcow4j still refuses it.)
   */
  @Test
  void aReadOnlyImageReportsNoEventForAnOverlapQemuDoesNotCheckOnReads() throws IOException {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      Path image = dir.resolve("image");
      Qemu.createQcow2(image, "64M");
      try (ImageBytes bytes = ImageBytes.open(image)) {
        bytes.putU64(bytes.u64(40), 0x8000000000030000L);
      }
    }
    SideBySide.Runs runs = both.run("qemu-io", "-r", "-f", "qcow2", "-c", "read 0 512", "@/image");
    assertThat(runs.theirs().err()).isEmpty();
    assertThat(runs.ours().err()).isEmpty();
  }

  /**
   * qemu-img's commands print the non-fatal event of the read-only source before their own error,
   * as qcow2_signal_corruption prints it (the error lines themselves still differ: qcow4j names the
   * entry where QEMU says "Input/output error").
   */
  @Test
  void qemuImgAnnouncesTheNonFatalEventBeforeItsError() throws IOException {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      unalignedDataCluster(dir.resolve("image"));
    }
    String event = "qcow2: Image is corrupt: Cluster allocation offset 0x52a00 unaligned (L2 offset: 0x40000,"
        + " L2 index: 0); further non-fatal corruption events will be suppressed\n";
    for (String[] command : new String[][] {{"convert", "-O", "raw", "@/image", "@/out.raw"}, {"map", "@/image"}}) {
      SideBySide.Runs runs = both.run("qemu-img", command);
      assertThat(runs.ours().exitCode()).isEqualTo(runs.theirs().exitCode()).isEqualTo(1);
      assertThat(runs.theirs().err()).startsWith(event);
      assertThat(runs.ours().err()).as(String.join(" ", command)).startsWith(event);
    }
  }

  /** An unaligned L1 entry found by a read marks a writable image corrupt too (qcow2_get_host_offset). */
  @Test
  void anUnalignedL2TableFoundByAReadMarksTheImage() throws IOException {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      Path image = dir.resolve("image");
      Qemu.createQcow2(image, "64M");
      Qemu.io(image, "qcow2", "write 0 64k");
      try (ImageBytes bytes = ImageBytes.open(image)) {
        long l1Table = bytes.u64(40);
        bytes.putU64(l1Table, 0x8000000000042a00L);
      }
    }
    SideBySide.Runs runs = both.run("qemu-io", "-f", "qcow2", "-c", "read 0 512", "-c", "read 0 512", "@/image")
        .same();
    assertThat(runs.ours().err()).isEqualTo("qcow2: Marking image as corrupt: L2 table offset 0x42a00 unaligned"
        + " (L1 index: 0); further corruption events will be suppressed\n");
    assertThat(runs.ours().out()).isEqualTo("read failed: Input/output error\nread failed: No medium found\n");
    assertCorruptBit(both.ours.resolve("image"));
  }

  /** A 64 MiB image whose first cluster's L2 entry points at an unaligned host offset (iotest 060). */
  private static void unalignedDataCluster(Path image) throws IOException {
    Qemu.createQcow2(image, "64M");
    Qemu.io(image, "qcow2", "write 0 64k");
    try (ImageBytes bytes = ImageBytes.open(image)) {
      bytes.putU64(0x40000, 0x8000000000052a00L);
    }
  }

  private static void assertCorruptBit(Path image) throws IOException {
    try (ImageBytes bytes = ImageBytes.open(image)) {
      assertThat(bytes.u64(ImageBytes.INCOMPATIBLE_FEATURES) & 2).as("the corrupt bit").isEqualTo(2);
    }
  }
}
