package io.qcow4j.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The direct-read comparison answers as Files.mismatch does, across 4 MiB reads and ragged ends. */
class UncachedFilesTest {
  @TempDir Path dir;

  @Test
  void answersAsFilesMismatch() throws IOException {
    byte[] data = new byte[(9 << 20) + 777];
    new Random(7).nextBytes(data);
    Path a = write("a", data);
    Path same = write("same", data);
    assertThat(UncachedFiles.mismatch(a, same)).isEqualTo(-1).isEqualTo(Files.mismatch(a, same));

    for (int at : new int[] {0, 4095, (4 << 20) - 1, 4 << 20, (8 << 20) + 5, data.length - 1}) {
      byte[] changed = data.clone();
      changed[at] ^= 1;
      Path other = write("other", changed);
      assertThat(UncachedFiles.mismatch(a, other)).as("at %d", at).isEqualTo(at).isEqualTo(Files.mismatch(a, other));
    }
    Path shorter = write("shorter", java.util.Arrays.copyOf(data, (4 << 20) + 3));
    assertThat(UncachedFiles.mismatch(a, shorter)).isEqualTo((4 << 20) + 3).isEqualTo(Files.mismatch(a, shorter));
    assertThat(UncachedFiles.mismatch(shorter, a)).isEqualTo((4 << 20) + 3);
  }

  @Test
  void sparseFilesAndWritesNotYetWrittenBackCompare() throws IOException {
    Path a = dir.resolve("sparse-a");
    Path b = dir.resolve("sparse-b");
    for (Path path : new Path[] {a, b}) {
      try (RandomAccessFile file = new RandomAccessFile(path.toFile(), "rw")) {
        file.setLength(64L << 20);
        file.seek(50L << 20);
        file.write(new byte[] {1, 2, 3});
      }
    }
    assertThat(UncachedFiles.mismatch(a, b)).isEqualTo(-1);
    try (RandomAccessFile file = new RandomAccessFile(b.toFile(), "rw")) {
      file.seek((50L << 20) + 1);
      file.write(9);
    }
    assertThat(UncachedFiles.mismatch(a, b)).isEqualTo((50L << 20) + 1);
  }

  private Path write(String name, byte[] data) throws IOException {
    return Files.write(dir.resolve(name), data);
  }
}
