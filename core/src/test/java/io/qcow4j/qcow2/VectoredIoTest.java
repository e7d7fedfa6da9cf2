package io.qcow4j.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Vectored reads and writes of a qcow2 image: the same bytes as one buffer, over every kind of
 * cluster and buffers of odd sizes, and one host I/O per contiguous host extent rather than per buffer.
 */
class VectoredIoTest {
  private static final int CLUSTER = 65536;

  @TempDir Path dir;

  /** Buffers of random sizes (some empty) covering {@code total} bytes, heap and direct mixed. */
  private static ByteBuffer[] buffers(Random random, int total) {
    java.util.List<ByteBuffer> list = new java.util.ArrayList<>();
    int left = total;
    while (left > 0) {
      int size = Math.min(left, random.nextInt(5) == 0 ? 0 : 1 + random.nextInt(9000));
      list.add(random.nextBoolean() ? ByteBuffer.allocate(size) : ByteBuffer.allocateDirect(size));
      left -= size;
    }
    return list.toArray(ByteBuffer[]::new);
  }

  private static byte[] concatenate(ByteBuffer[] buffers) {
    ByteBuffer all = ByteBuffer.allocate(java.util.Arrays.stream(buffers).mapToInt(ByteBuffer::capacity).sum());
    for (ByteBuffer buffer : buffers) {
      all.put(buffer.duplicate().clear());
    }
    return all.array();
  }

  @Test
  void vectoredReadsMatchOneBufferOverEveryKindOfCluster() throws IOException {
    QemuTools tools = QemuTools.in(dir);
    tools.img("create", "-q", "-f", "qcow2", "base.qcow2", "8M");
    tools.io("-c", "write -P 0x61 0 2M", "base.qcow2");
    tools.img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "overlay.qcow2");
    tools.io("-c", "write -P 0x62 64k 256k", "-c", "write -z 512k 128k", "-c", "write -P 0x63 3M 1M", "overlay.qcow2");
    tools.img("convert", "-c", "-O", "qcow2", "-B", "base.qcow2", "-F", "qcow2", "overlay.qcow2", "mixed.qcow2");
    Random random = new Random(11);
    for (String image : new String[] {"overlay.qcow2", "mixed.qcow2"}) {
      try (QcowFile disk = QcowFile.open(dir.resolve(image), OpenOptions.readOnlyDefaults())) {
        for (int trial = 0; trial < 20; trial++) {
          long offset = random.nextInt(6 << 20);
          int length = random.nextInt(2 << 20);
          ByteBuffer[] parts = buffers(random, length);
          long read = disk.read(parts, offset);
          assertThat(read).isEqualTo(length);
          for (ByteBuffer part : parts) {
            assertThat(part.hasRemaining()).isFalse();
          }
          ByteBuffer whole = ByteBuffer.allocate(length);
          disk.readFully(whole, offset);
          assertThat(concatenate(parts)).as("%s trial %d at %d", image, trial, offset).isEqualTo(whole.array());
        }
      }
    }
  }

  @Test
  void vectoredWritesLandAsOneBufferWouldAndTheImageStaysClean() throws IOException {
    Path file = dir.resolve("written.qcow2");
    Random random = new Random(12);
    byte[] model = new byte[8 << 20];
    try (QcowFile disk = QcowFile.create(file, CreateOptions.of(model.length))) {
      disk.writeFully(ByteBuffer.wrap(new byte[1 << 20]).put(0, (byte) 1), 1 << 20);
      model[1 << 20] = 1;
      for (int trial = 0; trial < 30; trial++) {
        long offset = random.nextInt(7 << 20);
        int length = random.nextInt(1 << 20);
        ByteBuffer[] parts = buffers(random, length);
        for (ByteBuffer part : parts) {
          byte[] bytes = new byte[part.remaining()];
          random.nextBytes(bytes);
          part.put(bytes).flip();
        }
        byte[] expected = concatenate(parts);
        assertThat(disk.write(parts, offset)).isEqualTo(length);
        for (ByteBuffer part : parts) {
          assertThat(part.hasRemaining()).isFalse();
        }
        System.arraycopy(expected, 0, model, (int) offset, length);
      }
      ByteBuffer all = ByteBuffer.allocate(model.length);
      disk.readFully(all, 0);
      assertThat(all.array()).isEqualTo(model);
    }
    QemuTools.in(dir).img("check", "-q", file);
  }

  @Test
  void aReadOfManyBuffersOverContiguousClustersIsAFewSystemCalls() throws IOException {
    Path file = dir.resolve("contiguous.qcow2");
    try (QcowFile disk = QcowFile.create(file, CreateOptions.of(16L << 20))) {
      disk.writeFully(ByteBuffer.allocate(4 << 20), 0);
    }
    try (QcowFile disk = QcowFile.open(file, OpenOptions.readOnlyDefaults())) {
      ByteBuffer[] pages = new ByteBuffer[1024];
      for (int index = 0; index < pages.length; index++) {
        pages[index] = ByteBuffer.allocateDirect(4096);
      }
      // Warm up: the first vectored read loads classes, which reads the class path.
      disk.read(pages, 0);
      for (ByteBuffer page : pages) {
        page.clear();
      }
      long before = systemCalls("syscr");
      long read = disk.read(pages, 0);
      long calls = systemCalls("syscr") - before;
      assertThat(read).isEqualTo(4 << 20);
      assertThat(calls).as("read system calls for 1024 buffers over %d contiguous clusters", (4 << 20) / CLUSTER)
          .isLessThan(50);
    }
  }

  private static long systemCalls(String counter) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/thread-self/io"))) {
      if (line.startsWith(counter + ":")) {
        return Long.parseLong(line.substring(counter.length() + 1).trim());
      }
    }
    throw new IOException("no " + counter + " in /proc/thread-self/io");
  }
}
