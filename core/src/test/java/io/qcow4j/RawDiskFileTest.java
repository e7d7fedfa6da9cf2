package io.qcow4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.Extent;
import io.qcow4j.disk.RawDiskFile;
import io.qcow4j.disk.ReadOnlyImageException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RawDiskFileTest {
  @TempDir Path dir;

  @Test
  void readsWritesAndReportsHoles() throws IOException {
    Path file = dir.resolve("disk.raw");
    Files.write(file, new byte[0]);
    try (var raw = RawDiskFile.open(file, false)) {
      raw.resize(4 << 20);
      raw.writeFully(ByteBuffer.wrap(new byte[] {1, 2, 3}), 1 << 20);
      ByteBuffer back = ByteBuffer.allocate(5);
      raw.readFully(back, (1 << 20) - 1);
      assertThat(back.array()).containsExactly(0, 1, 2, 3, 0);

      Extent first = raw.blockStatus(0, 4 << 20);
      assertThat(first.zero()).isTrue();
      assertThat(first.data()).isFalse();
      assertThat(first.end()).isLessThanOrEqualTo(1 << 20);
      Extent written = raw.blockStatus(1 << 20, 4 << 20);
      assertThat(written.data()).isTrue();

      assertThat(raw.read(ByteBuffer.allocate(8), 4 << 20)).isEqualTo(-1);
      assertThat(raw.read(ByteBuffer.allocate(8), (4 << 20) - 3)).isEqualTo(3);
      raw.force(false);
      assertThat(raw.info().actualSize()).isBetween(1L, 1L << 20);
    }
  }

  @Test
  void readOnlyRefusesWrites() throws IOException {
    Path file = dir.resolve("ro.raw");
    Files.write(file, new byte[4096]);
    try (var raw = RawDiskFile.open(file, true)) {
      assertThatThrownBy(() -> raw.write(ByteBuffer.allocate(1), 0)).isInstanceOf(ReadOnlyImageException.class);
    }
  }
}
