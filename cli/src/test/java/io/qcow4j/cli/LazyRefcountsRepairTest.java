package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.testing.ImageBytes;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * A repair of an open lazy-refcounts image that clears the dirty bit writes the refcounts the
 * session deferred first (QEMU's qcow2_mark_clean flushes every cache before it clears the bit),
 * and later writes set the bit again: a crash at any point leaves either accurate refcounts or the
 * dirty bit, which qemu-img check and the next read-write open rely on.
 */
class LazyRefcountsRepairTest {

  @Test
  void aRepairInASessionWritesTheDeferredRefcountsBeforeClearingTheDirtyBit() throws IOException {
    Path image = TestImages.scratch().resolve("image");
    Qemu.createQcow2(image, "128M", "-o", "compat=1.1,lazy_refcounts=on");
    Path afterRepair = image.resolveSibling("after-repair");
    Path afterWrite = image.resolveSibling("after-write");
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readWriteDefaults())) {
      disk.writeFully(ByteBuffer.wrap(new byte[512]).put(0, (byte) 0x5a), 0);
      disk.flush();
      assertThat(dirtyBit(image)).as("the dirty bit after a deferred refcount update").isTrue();
      CheckResult repaired = disk.check(CheckResult.Repair.ALL);
      assertThat(repaired.corruptions()).isZero();
      // what a crash now leaves on disk
      Files.copy(image, afterRepair);
      disk.writeFully(ByteBuffer.wrap(new byte[512]).put(0, (byte) 0x33), 1L << 20);
      disk.flush();
      Files.copy(image, afterWrite);
    }
    assertThat(dirtyBit(afterRepair)).as("the dirty bit after the repair").isFalse();
    Cli.Result check = Qemu.run("qemu-img", "check", afterRepair.toString());
    assertThat(check.exitCode()).as("qemu-img check after the repair\n%s", check).isZero();
    assertThat(dirtyBit(afterWrite)).as("the dirty bit set again by the next deferred update").isTrue();
    assertThat(Qemu.run("qemu-img", "check", image.toString()).exitCode()).as("the closed image").isZero();
  }

  private static boolean dirtyBit(Path image) throws IOException {
    try (ImageBytes bytes = ImageBytes.open(image)) {
      return (bytes.u64(ImageBytes.INCOMPATIBLE_FEATURES) & 1) != 0;
    }
  }
}
