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

  private static void assertCorruptBit(Path image) throws IOException {
    try (ImageBytes bytes = ImageBytes.open(image)) {
      assertThat(bytes.u64(ImageBytes.INCOMPATIBLE_FEATURES) & 2).as("the corrupt bit").isEqualTo(2);
    }
  }
}
