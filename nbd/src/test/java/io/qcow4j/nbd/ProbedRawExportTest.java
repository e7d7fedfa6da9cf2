package io.qcow4j.nbd;

import static io.qcow4j.nbd.Protocol.EPERM;
import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.disk.RawDiskFile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An export of a raw image opened by probing answers EPERM to a write that would change its format, as qemu-nbd does. */
class ProbedRawExportTest {
  @TempDir Path dir;

  @Test
  void aWriteThatWouldMakeTheImageProbeAsQcow2IsRefusedWithEperm() throws IOException {
    Path image = dir.resolve("disk.raw");
    Files.write(image, new byte[1 << 20]);
    byte[] qcow2Start = "QFI\u00fb\0\0\0\3".getBytes(StandardCharsets.ISO_8859_1);
    try (NbdServer server = NbdServer.builder().disk(RawDiskFile.openProbed(image, false)).closeDiskOnStop(true)
            .tcp("127.0.0.1", 0).start();
        NbdTestClient client = NbdTestClient.open(server.address(), true, false)) {
      assertThat(client.write(0, qcow2Start, 0)).isEqualTo(EPERM);
      assertThat(client.write(512, qcow2Start, 0)).isZero();
    }
    byte[] expected = new byte[1 << 20];
    System.arraycopy(qcow2Start, 0, expected, 512, qcow2Start.length);
    assertThat(Files.readAllBytes(image)).isEqualTo(expected);
  }
}
