package io.qcow4j.cli;

import io.qcow4j.testing.ImageBytes;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** A backing format that names no QEMU driver: info shows it as recorded, an open fails as QEMU's does (side by side). */
class UnknownBackingDriverTest {

  @Test
  void aBackingFormatNoDriverHasIsRefusedInQemusWords() throws IOException {
    SideBySide both = new SideBySide();
    for (Path dir : new Path[] {both.theirs, both.ours}) {
      Qemu.createQcow2(dir.resolve("base"), "1M");
      Qemu.run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base", "-F", "qcow2", dir.resolve("image").toString());
      try (ImageBytes bytes = ImageBytes.open(dir.resolve("image"))) {
        long extension = bytes.findExtension(0xE2792ACA);
        bytes.putBytes(extension + 8, "xcow2".getBytes(StandardCharsets.US_ASCII));
      }
    }
    both.run("qemu-img", "info", "@/image").same();
    both.run("qemu-io", "-c", "read 0 4k", "@/image").same();
  }
}
