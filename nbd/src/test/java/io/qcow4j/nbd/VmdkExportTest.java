package io.qcow4j.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.OpenOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A VMDK served read-only over NBD reads as qemu-img reads the VMDK itself. */
class VmdkExportTest {
  @TempDir Path dir;

  @Test
  void aStreamOptimizedAndASplitSparseVmdkServeTheirGuestBytes() throws Exception {
    Path raw = dir.resolve("source.raw");
    byte[] bytes = new byte[3 << 20];
    for (int i = 0; i < bytes.length; i += 4096) {
      if ((i / 65536) % 3 != 1) {
        bytes[i] = (byte) (i >> 12);
        bytes[i + 1] = (byte) 0xee;
      }
    }
    Files.write(raw, bytes);
    for (String subformat : new String[] {"streamOptimized", "twoGbMaxExtentSparse"}) {
      Path image = dir.resolve(subformat + ".vmdk");
      Tool.run("qemu-img", "convert", "-O", "vmdk", "-o", "subformat=" + subformat, raw.toString(), image.toString())
          .assertSuccess();
      Path served = dir.resolve(subformat + ".served.raw");
      try (NbdServer server = NbdServer.builder().disk(DiskImages.open(image, OpenOptions.readOnlyDefaults()))
          .closeDiskOnStop(true).tcp("127.0.0.1", 0).start()) {
        Tool.run("qemu-img", "convert", "-f", "raw", "-O", "raw", server.uri(), served.toString()).assertSuccess();
      }
      assertThat(Files.readAllBytes(served)).isEqualTo(bytes);
      Tool.run("qemu-img", "compare", "-f", "vmdk", "-F", "raw", image.toString(), served.toString()).assertSuccess();
    }
  }
}
