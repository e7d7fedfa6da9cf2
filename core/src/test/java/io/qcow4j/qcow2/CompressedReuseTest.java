package io.qcow4j.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.disk.CreateOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Compressed bytes go into freed clusters as QEMU's qcow2_alloc_bytes puts them, so a new
 * compressed cluster can get exactly the host offset and length of one freed before it (the same
 * L2 entry): reads must never serve it from what the old one decompressed to.
 */
class CompressedReuseTest {
  @TempDir Path dir;

  @Test
  void aCompressedClusterAtTheOffsetOfAFreedOneReadsItsOwnBytes() throws IOException {
    try (QcowFile disk = QcowFile.create(dir.resolve("reuse.qcow2"), CreateOptions.of(1 << 20))) {
      int clusterSize = disk.clusterSize();
      byte[] first = pattern(clusterSize, 'a');
      byte[] second = pattern(clusterSize, 'b');
      disk.writeCompressed(0, disk.compressCluster(ByteBuffer.wrap(first)));
      long firstEntry = disk.lookup().entryWords(0)[0];
      // a part of the cluster: decompressed once and kept for the next part
      assertRead(disk, 0, first, "the first compressed cluster");
      disk.discard(0, clusterSize);
      // the host cluster is freed and taken again, from its start, for bytes of the same length
      disk.writeCompressed(clusterSize, disk.compressCluster(ByteBuffer.wrap(second)));
      assertThat(disk.lookup().entryWords(clusterSize)[0]).as("L2 entry of the new compressed cluster")
          .isEqualTo(firstEntry);
      assertRead(disk, clusterSize, second, "the new compressed cluster");
      assertRead(disk, 0, new byte[clusterSize], "the discarded cluster");
    }
  }

  /** Reads the first 4 KiB of the cluster at {@code offset} (a part: served from the cluster decompressed last). */
  private static void assertRead(QcowFile disk, long offset, byte[] expected, String what) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(4096);
    disk.readFully(buffer, offset);
    if (!Arrays.equals(buffer.array(), Arrays.copyOf(expected, 4096))) {
      throw new AssertionError(what + " reads other bytes: " + (char) buffer.get(0) + " where "
          + (expected[0] == 0 ? "zeros" : (char) expected[0]) + " were written");
    }
  }

  /** A cluster of one letter repeated with its position's low byte: compresses to the same length for every letter. */
  private static byte[] pattern(int length, char letter) {
    byte[] bytes = new byte[length];
    for (int i = 0; i < length; i++) {
      bytes[i] = (byte) ((i & 1) == 0 ? letter : i >>> 8);
    }
    return bytes;
  }
}
