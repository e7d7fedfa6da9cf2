package io.qcow4j.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.disk.OpenOptions;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reads of clusters qemu-img compressed, by both paths: a whole cluster decompressed straight into
 * the caller's buffer (heap or direct, alone or inside a larger read) and parts of clusters served
 * from the last cluster decompressed; every byte as the raw source has it.
 */
class CompressedReadTest {
  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(strings = {"compression_type=zstd", "compression_type=zlib",
      "compression_type=zstd,cluster_size=4096", "compression_type=zlib,cluster_size=2097152"})
  void everyReadShapeReadsTheSourceBytes(String options) throws IOException {
    QemuTools tools = QemuTools.in(dir);
    // compressible and incompressible clusters, and a zero run
    byte[] source = new byte[4 << 20];
    Random random = new Random(7);
    for (int at = 0; at < source.length; at += 4096) {
      int kind = random.nextInt(3);
      for (int i = at; i < at + 4096; i++) {
        source[i] = switch (kind) {
          case 0 -> (byte) ('a' + i % 23);
          case 1 -> (byte) random.nextInt();
          default -> 0;
        };
      }
    }
    Files.write(dir.resolve("source.raw"), source);
    tools.img("convert", "-c", "-f", "raw", "-O", "qcow2", "-o", options, "source.raw", "packed.qcow2");
    try (QcowFile disk = QcowFile.open(dir.resolve("packed.qcow2"), OpenOptions.readOnlyDefaults())) {
      int clusterSize = disk.clusterSize();
      for (boolean direct : new boolean[] {false, true}) {
        // whole clusters, one by one, then two megabytes at a time
        for (int length : new int[] {clusterSize, 2 << 20}) {
          for (int offset = 0; offset < source.length; offset += length) {
            ByteBuffer buffer = direct ? ByteBuffer.allocateDirect(length) : ByteBuffer.allocate(length);
            disk.readFully(buffer, offset);
            assertSame(buffer.flip(), source, offset);
          }
        }
      }
      // parts of clusters, some twice in a row (the kept cluster), some across two clusters
      for (int trial = 0; trial < 80; trial++) {
        int offset = random.nextInt(source.length - 1);
        int length = 1 + random.nextInt(Math.min(source.length - offset, clusterSize + 4096));
        for (int again = 0; again < 2; again++) {
          ByteBuffer buffer = random.nextBoolean() ? ByteBuffer.allocateDirect(length) : ByteBuffer.allocate(length);
          disk.readFully(buffer, offset);
          assertSame(buffer.flip(), source, offset);
        }
      }
    }
  }

  private static void assertSame(ByteBuffer read, byte[] source, int offset) {
    byte[] bytes = new byte[read.remaining()];
    read.get(bytes);
    assertThat(bytes).as("%d bytes at %d", bytes.length, offset)
        .isEqualTo(java.util.Arrays.copyOfRange(source, offset, offset + bytes.length));
  }
}
