package io.qcow4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.ProbedRawWriteException;
import io.qcow4j.disk.RawDiskFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A raw image opened by probing refuses what would make its first sector probe as another format. */
class ProbedRawTest {
  private static final byte[] QCOW2_START = latin1("QFI\u00fb\0\0\0\3");
  private static final byte[] BOCHS_BUT_ONE_BYTE = latin1(
      "Bochs Virtual HD ImageX" + "\0".repeat(9) + "Redolog" + "\0".repeat(9) + "Growing" + "\0".repeat(9) + "\0\0\2\0");

  @TempDir Path dir;

  @Test
  void refusesAWriteThatMakesTheFirstSectorProbeAsQcow2() throws IOException {
    Path file = image(new byte[1 << 20]);
    try (RawDiskFile raw = RawDiskFile.openProbed(file, false)) {
      assertThat(raw.probed()).isTrue();
      assertThatThrownBy(() -> raw.write(ByteBuffer.wrap(QCOW2_START), 0))
          .isInstanceOf(ProbedRawWriteException.class)
          .hasMessageContaining(file.toString()).hasMessageContaining("would make it probe as qcow2");
      // the magic alone leaves version 0, which no probe accepts; then the version completes it
      raw.write(ByteBuffer.wrap(QCOW2_START, 0, 4), 0);
      assertThatThrownBy(() -> raw.write(ByteBuffer.wrap(QCOW2_START, 4, 4), 4))
          .isInstanceOf(ProbedRawWriteException.class);
      // past the first sector nothing is checked
      raw.write(ByteBuffer.wrap(QCOW2_START), 512);
    }
    byte[] expected = new byte[1 << 20];
    System.arraycopy(QCOW2_START, 0, expected, 0, 4);
    System.arraycopy(QCOW2_START, 0, expected, 512, 8);
    assertThat(Files.readAllBytes(file)).isEqualTo(expected);
  }

  @Test
  void aWriteAcrossTheFirstSectorIsWhole() throws IOException {
    Path file = image(new byte[4096]);
    byte[] data = new byte[1024];
    Arrays.fill(data, (byte) 7);
    try (RawDiskFile raw = RawDiskFile.openProbed(file, false)) {
      assertThat(raw.write(ByteBuffer.wrap(data), 100)).isEqualTo(1024);
      ByteBuffer refused = ByteBuffer.allocate(1024).put(QCOW2_START).rewind();
      assertThatThrownBy(() -> raw.write(refused, 0)).isInstanceOf(ProbedRawWriteException.class);
      assertThat(refused.position()).isZero();
    }
    byte[] expected = new byte[4096];
    Arrays.fill(expected, 100, 1124, (byte) 7);
    assertThat(Files.readAllBytes(file)).isEqualTo(expected);
  }

  @Test
  void zeroingAndDiscardAreCheckedToo() throws IOException {
    byte[] content = Arrays.copyOf(BOCHS_BUT_ONE_BYTE, 8192);
    Path file = image(content);
    try (RawDiskFile raw = RawDiskFile.openProbed(file, false)) {
      // zeroing the X terminates the magic: the sector would be a bochs image
      assertThatThrownBy(() -> raw.writeZeroes(22, 1)).isInstanceOf(ProbedRawWriteException.class)
          .hasMessageContaining("bochs");
      assertThatThrownBy(() -> raw.discard(22, 10)).isInstanceOf(ProbedRawWriteException.class);
      raw.writeZeroes(4096, 4096);
      raw.writeZeroes(0, 22);
    }
    byte[] expected = new byte[8192];
    System.arraycopy(content, 22, expected, 22, 512 - 22);
    assertThat(Files.readAllBytes(file)).isEqualTo(expected);
  }

  @Test
  void aShortFileIsCheckedAsProbingSeesIt() throws IOException {
    // the bytes past the end read as zeros, as probing pads them
    Path file = image(Arrays.copyOf(BOCHS_BUT_ONE_BYTE, 100));
    try (RawDiskFile raw = RawDiskFile.openProbed(file, false)) {
      assertThatThrownBy(() -> raw.write(ByteBuffer.wrap(new byte[1]), 22)).isInstanceOf(ProbedRawWriteException.class);
    }
  }

  @Test
  void namedRawWritesAnything() throws IOException {
    Path file = image(new byte[4096]);
    try (RawDiskFile raw = RawDiskFile.open(file, false)) {
      assertThat(raw.probed()).isFalse();
      raw.write(ByteBuffer.wrap(QCOW2_START), 0);
    }
    assertThat(DiskImages.probe(file)).isEqualTo(io.qcow4j.disk.ImageFormat.QCOW2);
  }

  private Path image(byte[] content) throws IOException {
    Path file = dir.resolve("disk.raw");
    Files.write(file, content);
    return file;
  }

  private static byte[] latin1(String text) {
    return text.getBytes(StandardCharsets.ISO_8859_1);
  }
}
