package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.testing.ImageBytes;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Lazy refcounts as QEMU 7.2 keeps them: a flush leaves the refcount blocks of a dirty image in the
 * cache, a crash leaves the dirty bit set over stale refcounts, and the next read-write open repairs
 * the image (qcow2_do_open's check with BDRV_FIX_ERRORS | BDRV_FIX_LEAKS) and prints what the
 * repair prints: side by side with qemu-io and qemu-img.
 */
class LazyRefcountsTest {

  @Test
  void aDirtyImageIsRepairedAtAReadWriteOpen() throws IOException {
    SideBySide both = new SideBySide();
    Path made = TestImages.scratch().resolve("dirty");
    Qemu.createQcow2(made, "128M", "-o", "compat=1.1,lazy_refcounts=on");
    // a crash after a write: qemu-io killed with its refcounts still in the cache
    Cli.Result killed = Qemu.run("qemu-io", "-c", "write -P 0x5a 0 512", "-c", "sigraise 9", made.toString());
    assertThat(killed.exitCode()).as("qemu-io killed").isEqualTo(137);
    assertThat(dirtyBit(made)).as("the dirty bit after the crash").isTrue();
    both.copy(made, "image");

    SideBySide.Runs runs = both.run("qemu-io", "-f", "qcow2", "-c", "write 512 512", "@/image");
    assertThat(runs.ours().exitCode()).as(runs.toString()).isEqualTo(runs.theirs().exitCode()).isZero();
    assertThat(runs.ours().out()).isEqualTo(runs.theirs().out());
    assertThat(runs.theirs().err()).startsWith("ERROR cluster 5 refcount=0 reference=1\n");
    assertThat(runs.ours().err()).as("the repair's lines").contains("cluster 5 refcount=0 reference=1\n");

    Path ours = both.ours.resolve("image");
    assertThat(dirtyBit(ours)).as("the dirty bit after the repair and close").isFalse();
    assertThat(Qemu.run("qemu-img", "check", ours.toString()).exitCode()).as("qemu-img check").isZero();
    assertThat(Qemu.run("qemu-io", "-c", "read -P 0x5a 0 512", "-c", "read -P 0xcd 512 512", ours.toString()).out())
        .doesNotContain("Pattern verification failed");
  }

  @Test
  void aFlushUnderTheDirtyBitLeavesTheDataClustersRefcountInTheCache() throws IOException {
    Path image = TestImages.scratch().resolve("image");
    Qemu.createQcow2(image, "128M", "-o", "compat=1.1,lazy_refcounts=on");
    Path crashed = image.resolveSibling("crashed");
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readWriteDefaults())) {
      disk.writeFully(ByteBuffer.wrap(new byte[512]).put(0, (byte) 0x5a), 0);
      disk.flush();
      // what a crash now leaves on disk
      Files.copy(image, crashed);
    }
    assertThat(dirtyBit(crashed)).as("the dirty bit before the close").isTrue();
    Cli.Result check = Qemu.run("qemu-img", "check", crashed.toString());
    assertThat(check.err()).contains("ERROR cluster 5 refcount=0 reference=1\n");
    // closed: everything written, the dirty bit cleared
    assertThat(dirtyBit(image)).isFalse();
    assertThat(Qemu.run("qemu-img", "check", image.toString()).exitCode()).isZero();
    // the crashed copy is repaired by the next read-write open, as QEMU repairs it
    Cli.Result write = Cli.run("io", "-c", "read -P 0x5a 0 1", crashed.toString());
    assertThat(write.exitCode()).as(write.toString()).isZero();
    assertThat(write.err()).contains("cluster 5 refcount=0 reference=1");
    assertThat(dirtyBit(crashed)).isFalse();
    assertThat(Qemu.run("qemu-img", "check", crashed.toString()).exitCode()).isZero();
  }

  private static boolean dirtyBit(Path image) throws IOException {
    try (ImageBytes bytes = ImageBytes.open(image)) {
      return (bytes.u64(ImageBytes.INCOMPATIBLE_FEATURES) & 1) != 0;
    }
  }
}
