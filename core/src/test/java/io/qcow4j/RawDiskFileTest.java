package io.qcow4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.RawDiskFile;
import io.qcow4j.disk.ReadOnlyImageException;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
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

  /**
   * QEMU sees a raw file in whole 512-byte sectors (iotests 101 and 221): a 320-byte file is a
   * 512-byte disk whose tail reads as zeros, and a write to the tail extends the file, as qemu-io
   * does it on a copy of the same file.
   */
  @Test
  void aFileShorterThanASectorIsOneSectorLikeInQemu() throws IOException {
    byte[] content = new byte[320];
    new Random(320).nextBytes(content);
    Path ours = dir.resolve("ours.raw");
    Path qemu = dir.resolve("qemu.raw");
    Files.write(ours, content);
    Files.write(qemu, content);
    try (var raw = RawDiskFile.open(ours, false)) {
      assertThat(raw.size()).isEqualTo(512);
      ByteBuffer sector = ByteBuffer.allocate(512);
      raw.readFully(sector, 0);
      byte[] expected = Arrays.copyOf(content, 512);
      assertThat(sector.array()).isEqualTo(expected);
      byte[] pattern = new byte[100];
      Arrays.fill(pattern, (byte) 0x55);
      raw.writeFully(ByteBuffer.wrap(pattern), 400);
    }
    QemuTools.qemuIo("-f", "raw", "-c", "write -P 0x55 400 100", qemu);
    assertThat(Files.readAllBytes(ours)).isEqualTo(Files.readAllBytes(qemu));
    assertThat(Files.size(ours)).isEqualTo(500);
  }

  /** A 65537-byte file: 66048 bytes of disk, the tail a zero extent, as qemu-img map and info show it. */
  @Test
  void mapAndInfoShowTheTailOfTheLastSectorAsQemuDoes() throws IOException {
    Path file = dir.resolve("tail.raw");
    byte[] content = new byte[65537];
    Arrays.fill(content, (byte) 7);
    Files.write(file, content);
    try (var raw = RawDiskFile.open(file, true)) {
      assertThat(raw.info().virtualSize()).isEqualTo(66048);
      Extent data = raw.blockStatus(0, raw.size());
      assertThat(data.end()).isEqualTo(65537);
      assertThat(data.data()).isTrue();
      Extent tail = raw.blockStatus(65537, raw.size());
      assertThat(tail.end()).isEqualTo(66048);
      assertThat(tail.zero()).isTrue();
      assertThat(tail.data()).isFalse();
      assertThat(tail.present()).isTrue();
      assertThat(tail.hostOffset()).isEqualTo(65537);
    }
    String map = QemuTools.qemuImg("map", "--output=json", "-f", "raw", file).stdout();
    assertThat(map).contains("{ \"start\": 65537, \"length\": 511, \"depth\": 0, \"present\": true, \"zero\": true, "
        + "\"data\": false, \"offset\": 65537}");
  }

  /** Creating a raw image of 1234 bytes makes a 1536-byte file (QEMU's file protocol); resizing truncates exactly. */
  @Test
  void createRoundsUpToASectorAndResizeKeepsTheExactFileSize() throws IOException {
    Path file = dir.resolve("created.raw");
    try (var raw = DiskImages.create(file, ImageFormat.RAW, CreateOptions.of(1234))) {
      assertThat(raw.size()).isEqualTo(1536);
      raw.resize(2000);
      assertThat(raw.size()).isEqualTo(2048);
    }
    assertThat(Files.size(file)).isEqualTo(2000);
    assertThat(QemuTools.qemuImg("info", "-f", "raw", file).stdout()).contains("virtual size: 2 KiB (2048 bytes)");
  }
}
