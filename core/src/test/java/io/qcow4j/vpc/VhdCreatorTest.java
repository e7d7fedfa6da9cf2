package io.qcow4j.vpc;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** A fixed VHD made by {@link VhdCreator} is the one qemu-img create makes, but for its timestamp and UUID. */
class VhdCreatorTest {
  @TempDir Path dir;

  @ParameterizedTest(name = "{0} bytes, force_size={1}")
  @CsvSource({
      "1000001, true", "1000001, false", "67108864, true", "67108864, false", "1073741824, true",
      "1073741824, false", "3221225472, true", "136365211648, false", "136365211648, true",
      "2190433320960, true"})
  void makesTheFixedDiskQemuImgMakes(long size, boolean forceSize) throws IOException {
    Path theirs = dir.resolve("theirs.vhd");
    QemuTools.in(dir).img("create", "-q", "-f", "vpc", "-o", "subformat=fixed,force_size=" + (forceSize ? "on" : "off"),
        theirs, size);
    Path ours = dir.resolve("ours.vhd");
    long virtualSize;
    try (FileStorage storage = FileStorage.create(ours, true)) {
      virtualSize = VhdCreator.createFixed(storage, size, forceSize);
    }
    assertThat(Files.size(ours)).isEqualTo(Files.size(theirs)).isEqualTo(virtualSize + 512);
    assertThat(masked(lastSector(ours))).isEqualTo(masked(lastSector(theirs)));

    String info = QemuTools.in(dir).img("info", "-f", "vpc", "--output=json", ours).stdout();
    assertThat(info).contains("\"virtual-size\": " + virtualSize + ",");
    try (DiskFile disk = DiskImages.open(ours, OpenOptions.readOnlyDefaults().withFormat(ImageFormat.VPC))) {
      assertThat(disk.size()).isEqualTo(virtualSize);
    }
  }

  private static byte[] lastSector(Path image) throws IOException {
    try (var channel = java.nio.channels.FileChannel.open(image)) {
      java.nio.ByteBuffer sector = java.nio.ByteBuffer.allocate(512);
      channel.read(sector, channel.size() - 512);
      return sector.array();
    }
  }

  /** The footer without its timestamp, checksum and UUID, which differ between any two creations. */
  private static byte[] masked(byte[] footer) {
    byte[] copy = footer.clone();
    Arrays.fill(copy, 24, 28, (byte) 0);
    Arrays.fill(copy, 64, 84, (byte) 0);
    return copy;
  }
}
