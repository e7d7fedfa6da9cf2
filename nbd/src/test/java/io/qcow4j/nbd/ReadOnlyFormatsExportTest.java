package io.qcow4j.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.OpenOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The formats qcow4j only reads (vpc, vdi, qed, qcow, vhdx), exported read-only: qemu-img reads through the server the bytes
 * it reads from the image itself, and a write is refused.
 */
class ReadOnlyFormatsExportTest {
  @TempDir Path dir;

  @ParameterizedTest(name = "{0} {1}")
  @CsvSource({"vpc, subformat=dynamic", "vpc, subformat=fixed", "vdi, static=off", "vdi, static=on",
      "qed, cluster_size=65536", "qcow, encryption=off", "vhdx, subformat=dynamic", "vhdx, 'subformat=fixed,block_size=1M'"})
  void qemuImgReadsTheImageThroughTheServer(String format, String options) throws IOException, InterruptedException {
    Path image = dir.resolve("disk." + format);
    Tool.run("qemu-img", "create", "-q", "-f", format, "-o", options, image.toString(), "16M").assertSuccess();
    Tool.run("qemu-io", "-f", format, "-c", "write -P 0x5a 1M 64k", "-c", "write -P 0x11 5M 3M",
        "-c", "write -z 12M 64k", image.toString()).assertSuccess();
    Path expected = dir.resolve("expected.raw");
    Tool.run("qemu-img", "convert", "-f", format, "-O", "raw", image.toString(), expected.toString()).assertSuccess();
    Path served = dir.resolve("served.raw");
    OpenOptions readOnly = OpenOptions.readOnlyDefaults().withFormat(io.qcow4j.disk.ImageFormat.parse(format));
    try (NbdServer server = NbdServer.builder().disk(DiskImages.open(image, readOnly)).closeDiskOnStop(true)
        .tcp("127.0.0.1", 0).start()) {
      Tool.run("qemu-img", "convert", "-f", "raw", "-O", "raw", server.uri(), served.toString()).assertSuccess();
      assertThat(Tool.run("qemu-io", "-f", "raw", server.uri(), "-c", "write -P 0x11 0 4k").exitCode()).isNotZero();
    }
    assertThat(Files.mismatch(expected, served)).as("first differing byte").isEqualTo(-1);
  }
}
