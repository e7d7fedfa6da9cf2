package io.qcow4j.vdi;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.HostRange;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A dynamic VDI that qemu-io wrote in guest order keeps its blocks next to each other in the file:
 * block status answers the whole run of such blocks (and of unallocated blocks) at once, and the
 * run is one host range, so a convert copies it with one kernel copy instead of one per 1 MiB block.
 */
class VdiBlockRunsTest {
  @TempDir Path dir;

  @Test
  void runsOfBlocksAreOneExtentAndOneHostRange() throws IOException {
    Path image = dir.resolve("disk.vdi");
    QemuTools.in(dir).img("create", "-q", "-f", "vdi", image.toString(), "64M");
    QemuTools.in(dir).io("-f", "vdi", "-c", "write -P 0x11 0 8M", "-c", "write -P 0x22 40M 3M", image.toString());
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults().withFormat(ImageFormat.VDI))) {
      Extent data = disk.blockStatus(0, disk.size());
      assertThat(data.length()).isEqualTo(8L << 20);
      assertThat(data.data()).isTrue();
      Extent zeros = disk.blockStatus(8L << 20, disk.size() - (8L << 20));
      assertThat(zeros.length()).isEqualTo(32L << 20);
      assertThat(zeros.zero()).isTrue();
      Optional<HostRange> range = disk.hostRange(0, 8L << 20);
      assertThat(range).isPresent();
      assertThat(range.get().offset()).isEqualTo(data.hostOffset());
      // the second run starts a new place in the file: one range inside it, none across both runs
      assertThat(disk.blockStatus(40L << 20, 24L << 20).length()).isEqualTo(3L << 20);
      assertThat(disk.hostRange(40L << 20, 3L << 20)).isPresent();
      assertThat(disk.hostRange(7L << 20, 34L << 20)).isEmpty();
    }
  }
}
