package io.qcow4j.qcow2.format;

import static io.qcow4j.qcow2.format.QemuFixtures.be;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.CorruptImageException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The bitmaps extension (24 bytes) and the bitmap directory it points at (24 fixed bytes, extra data, name, padding). */
class BitmapDirectoryCodecTest {
  private static final String FILE = "images/bitmaps.qcow2";

  @TempDir Path dir;

  @Test
  void decodesDirectoryQemuWrote() throws IOException {
    Path image = QemuFixtures.create(dir, "bitmaps.qcow2", "", "16M");
    QemuFixtures.run(dir, "qemu-img", "bitmap", "--add", "bitmaps.qcow2", "b0");
    QemuFixtures.run(dir, "qemu-img", "bitmap", "--add", "--granularity", "128k", "--disable", "bitmaps.qcow2",
        "second-bitmap");
    Header header = QemuFixtures.header(image);
    long fileSize = QemuFixtures.size(image);

    assertThat(header.bitmapsValid()).as("autoclear bit 0").isTrue();
    byte[] data = header.extension(HeaderExtension.BITMAPS).orElseThrow().data();
    assertThat(data).hasSize(24);
    BitmapDirectoryCodec.Extension extension = BitmapDirectoryCodec.Extension.decode(image.toString(), data);
    assertThat(extension.count()).isEqualTo(2);
    assertThat(be(data, 4, 4)).as("reserved").isZero();
    // Entries padded to 8: 24 + "b0" = 26 -> 32, 24 + "second-bitmap" = 37 -> 40.
    assertThat(extension.directorySize()).isEqualTo(32 + 40);
    assertThat(extension.directoryOffset() % header.clusterSize()).isZero();
    assertThat(extension.directoryOffset() + extension.directorySize()).isLessThanOrEqualTo(fileSize);

    byte[] directory = QemuFixtures.read(image, extension.directoryOffset(), (int) extension.directorySize());
    List<BitmapDirectoryCodec.Entry> entries = BitmapDirectoryCodec.decode(image.toString(), ByteBuffer.wrap(directory),
        extension.directoryOffset(), extension.count());

    assertThat(entries).extracting(BitmapDirectoryCodec.Entry::name).containsExactly("b0", "second-bitmap");
    assertThat(entries).extracting(BitmapDirectoryCodec.Entry::granularityBits).containsExactly(16, 17);
    // An enabled bitmap carries the auto flag; --disable clears it; neither is in use.
    assertThat(entries).extracting(BitmapDirectoryCodec.Entry::flags)
        .containsExactly(BitmapDirectoryCodec.FLAG_AUTO, 0);
    for (BitmapDirectoryCodec.Entry entry : entries) {
      // 16 MiB at 64 KiB or 128 KiB per bit is at most 32 bytes of bitmap: one cluster of bitmap table.
      assertThat(entry.tableSize()).isEqualTo(1);
      assertThat(entry.tableOffset() % header.clusterSize()).isZero();
      assertThat(entry.tableOffset() + 8L * entry.tableSize()).isLessThanOrEqualTo(fileSize);
    }
    assertThat(directory[16]).as("type: dirty tracking bitmap").isEqualTo((byte) 1);
    assertThat(directory[32 + 16]).isEqualTo((byte) 1);
  }

  @Test
  void flagsAreTheSpecsBits() {
    assertThat(BitmapDirectoryCodec.FLAG_IN_USE).isEqualTo(1);
    assertThat(BitmapDirectoryCodec.FLAG_AUTO).isEqualTo(2);
  }

  @Test
  void decodesExtensionFields() throws IOException {
    ByteBuffer data = ByteBuffer.allocate(24).putInt(3).putInt(0).putLong(120).putLong(0x70000);
    BitmapDirectoryCodec.Extension extension = BitmapDirectoryCodec.Extension.decode(FILE, data.array());
    assertThat(extension).isEqualTo(new BitmapDirectoryCodec.Extension(3, 120, 0x70000));
  }

  @Test
  void refusesShortExtension() {
    assertThatThrownBy(() -> BitmapDirectoryCodec.Extension.decode(FILE, new byte[23]))
        .isExactlyInstanceOf(CorruptImageException.class).hasMessageStartingWith(FILE + ": ")
        .hasMessageContaining("bitmaps").hasMessageContaining("23 bytes");
  }

  @Test
  void decodesEntriesWithExtraDataAndFlags() throws IOException {
    byte[] first = entry(0x50000, 4, BitmapDirectoryCodec.FLAG_IN_USE | 4, 9, "in-use", new byte[] {1, 2, 3});
    byte[] second = entry(0x60000, 1, BitmapDirectoryCodec.FLAG_AUTO, 31, "ünïcode", new byte[0]);
    byte[] directory = concat(first, second);

    List<BitmapDirectoryCodec.Entry> entries = BitmapDirectoryCodec.decode(FILE, ByteBuffer.wrap(directory), 0x40000, 2);

    assertThat(entries).containsExactly(
        new BitmapDirectoryCodec.Entry("in-use", 9, BitmapDirectoryCodec.FLAG_IN_USE | 4, 0x50000, 4, new byte[] {1, 2, 3}),
        new BitmapDirectoryCodec.Entry("ünïcode", 31, BitmapDirectoryCodec.FLAG_AUTO, 0x60000, 1));
    assertThat(first).hasSize(40);
  }

  @Test
  void readsFromTheBufferPosition() throws IOException {
    byte[] only = entry(0x50000, 1, 0, 16, "b", new byte[0]);
    ByteBuffer buffer = ByteBuffer.allocate(16 + only.length).position(16);
    buffer.put(only).position(16);
    assertThat(BitmapDirectoryCodec.decode(FILE, buffer, 0x40000, 1))
        .extracting(BitmapDirectoryCodec.Entry::name).containsExactly("b");
  }

  @Test
  void refusesEntriesCutByTheDirectory() {
    byte[] first = entry(0x50000, 1, 0, 16, "first", new byte[0]);
    byte[] second = entry(0x60000, 1, 0, 16, "second", new byte[0]);
    byte[] directory = concat(first, second);
    // Fixed part cut.
    assertThatThrownBy(() -> BitmapDirectoryCodec.decode(FILE, ByteBuffer.wrap(directory, 0, first.length + 20), 0x40000, 2))
        .isExactlyInstanceOf(CorruptImageException.class).hasMessageStartingWith(FILE + ": ")
        .hasMessageContaining("entry 1").hasMessageContaining("offset " + (0x40000 + first.length));
    // Name cut.
    assertThatThrownBy(() -> BitmapDirectoryCodec.decode(FILE, ByteBuffer.wrap(directory, 0, first.length + 26), 0x40000, 2))
        .isExactlyInstanceOf(CorruptImageException.class).hasMessageContaining("entry 1");
    // More entries announced than stored.
    assertThatThrownBy(() -> BitmapDirectoryCodec.decode(FILE, ByteBuffer.wrap(directory), 0x40000, 3))
        .isExactlyInstanceOf(CorruptImageException.class).hasMessageContaining("entry 2");
    // Extra data size beyond the directory, up to 2^32 - 1.
    byte[] huge = entry(0x50000, 1, 0, 16, "x", new byte[0]);
    ByteBuffer.wrap(huge).putInt(20, -1);
    assertThatThrownBy(() -> BitmapDirectoryCodec.decode(FILE, ByteBuffer.wrap(huge), 0x40000, 1))
        .isExactlyInstanceOf(CorruptImageException.class).hasMessageContaining("entry 0");
  }

  @Test
  void refusesTablesOfNoEntriesOrMoreThanQemuAllowsOrAtNoClusterOffset() {
    for (int tableSize : new int[] {0, (1 << 20) + 1, 0x800_0000, -1}) {
      byte[] bad = entry(0x50000, tableSize, 0, 16, "big", new byte[0]);
      assertThatThrownBy(() -> BitmapDirectoryCodec.decode(FILE, ByteBuffer.wrap(bad), 0x40000, 1))
          .isExactlyInstanceOf(CorruptImageException.class).hasMessageStartingWith(FILE + ": ")
          .hasMessageContaining("entry 0").hasMessageContaining(Integer.toUnsignedString(tableSize) + " entries");
    }
    for (long tableOffset : new long[] {0, 0x50001, -0x10000}) {
      byte[] bad = entry(tableOffset, 1, 0, 16, "moved", new byte[0]);
      assertThatThrownBy(() -> BitmapDirectoryCodec.decode(FILE, ByteBuffer.wrap(bad), 0x40000, 1))
          .isExactlyInstanceOf(CorruptImageException.class).hasMessageContaining("entry 0")
          .hasMessageContaining("offset " + tableOffset);
    }
  }

  @Test
  void acceptsTheLargestTableQemuAcceptsAt512ByteClusters() throws IOException {
    byte[] largest = entry(0x50000, 1 << 20, 0, 16, "largest", new byte[0]);
    assertThat(BitmapDirectoryCodec.decode(FILE, ByteBuffer.wrap(largest), 0x40000, 1))
        .extracting(BitmapDirectoryCodec.Entry::tableSize).containsExactly(1 << 20);
  }

  @Test
  void checksATableAgainstClusterSizeDataLimitAndFile() throws IOException {
    int cluster = 512;
    BitmapDirectoryCodec.checkTable(FILE, new BitmapDirectoryCodec.Entry("ok", 16, 0, 0x50000, 1024 * 1024), cluster,
        0x50000 + 8L * 1024 * 1024);
    assertThatThrownBy(() -> BitmapDirectoryCodec.checkTable(FILE,
        new BitmapDirectoryCodec.Entry("odd", 16, 0, 0x50200, 1), 65536, 1L << 30))
        .isExactlyInstanceOf(CorruptImageException.class).hasMessageContaining("'odd'").hasMessageContaining("aligned");
    assertThatThrownBy(() -> BitmapDirectoryCodec.checkTable(FILE,
        new BitmapDirectoryCodec.Entry("huge", 16, 0, 0x50000, 1024 * 1024 + 1), cluster, 1L << 40))
        .isExactlyInstanceOf(CorruptImageException.class).hasMessageContaining("'huge'").hasMessageContaining("bitmap data");
    assertThatThrownBy(() -> BitmapDirectoryCodec.checkTable(FILE,
        new BitmapDirectoryCodec.Entry("past", 16, 0, 0x50000, 2), cluster, 0x50000 + 8))
        .isExactlyInstanceOf(CorruptImageException.class).hasMessageContaining("'past'").hasMessageContaining("past the end");
  }

  @Test
  void encodesWhatItDecodes() throws IOException {
    List<BitmapDirectoryCodec.Entry> entries = List.of(
        new BitmapDirectoryCodec.Entry("a", 16, BitmapDirectoryCodec.FLAG_AUTO, 0x50000, 1),
        new BitmapDirectoryCodec.Entry("with-extra", 9, BitmapDirectoryCodec.FLAG_EXTRA_DATA_COMPATIBLE, 0x60000, 3,
            new byte[] {7, 7, 7, 7, 7}));
    byte[] directory = BitmapDirectoryCodec.encode(entries);
    assertThat(directory).hasSize(32 + 40);
    assertThat(directory).startsWith(entry(0x50000, 1, BitmapDirectoryCodec.FLAG_AUTO, 16, "a", new byte[0]));
    assertThat(BitmapDirectoryCodec.decodeDirectory(FILE, ByteBuffer.wrap(directory), 0x40000, 2)).isEqualTo(entries);
    assertThat(entries.get(1).usable()).isTrue();
    assertThat(entries.get(1).withFlags(0).usable()).isFalse();
    BitmapDirectoryCodec.Extension extension = new BitmapDirectoryCodec.Extension(2, directory.length, 0x40000);
    assertThat(BitmapDirectoryCodec.Extension.decodeChecked(FILE, extension.encode(), 65536, 0x80000))
        .isEqualTo(extension);
  }

  @Test
  void refusesWhatQemuRefusesInAnEntry() {
    for (int bits : new int[] {8, 32, 0}) {
      byte[] bad = entry(0x50000, 1, 0, bits, "g", new byte[0]);
      assertThatThrownBy(() -> BitmapDirectoryCodec.decode(FILE, ByteBuffer.wrap(bad), 0x40000, 1))
          .isExactlyInstanceOf(CorruptImageException.class).hasMessageContaining("granularity bits " + bits);
    }
    byte[] flags = entry(0x50000, 1, 8, 16, "f", new byte[0]);
    assertThatThrownBy(() -> BitmapDirectoryCodec.decode(FILE, ByteBuffer.wrap(flags), 0x40000, 1))
        .isExactlyInstanceOf(CorruptImageException.class).hasMessageContaining("reserved flags 0x8");
    byte[] type = entry(0x50000, 1, 0, 16, "t", new byte[0]);
    type[16] = 2;
    assertThatThrownBy(() -> BitmapDirectoryCodec.decode(FILE, ByteBuffer.wrap(type), 0x40000, 1))
        .isExactlyInstanceOf(CorruptImageException.class).hasMessageContaining("type 2");
    byte[] longName = entry(0x50000, 1, 0, 16, "n".repeat(1024), new byte[0]);
    assertThatThrownBy(() -> BitmapDirectoryCodec.decode(FILE, ByteBuffer.wrap(longName), 0x40000, 1))
        .isExactlyInstanceOf(CorruptImageException.class).hasMessageContaining("1024 bytes");
    byte[] one = entry(0x50000, 1, 0, 16, "x", new byte[0]);
    byte[] padded = Arrays.copyOf(one, one.length + 8);
    assertThatThrownBy(() -> BitmapDirectoryCodec.decodeDirectory(FILE, ByteBuffer.wrap(padded), 0x40000, 1))
        .isExactlyInstanceOf(CorruptImageException.class).hasMessageContaining("Broken bitmap directory");
    byte[] twice = concat(one, one);
    assertThatThrownBy(() -> BitmapDirectoryCodec.decodeDirectory(FILE, ByteBuffer.wrap(twice), 0x40000, 2))
        .isExactlyInstanceOf(CorruptImageException.class).hasMessageContaining("'x' twice");
  }

  @Test
  void checksTheExtensionAsQemuDoes() {
    int cluster = 65536;
    assertThatThrownBy(() -> new BitmapDirectoryCodec.Extension(65536, 32, 0x40000).check(FILE, cluster, 1 << 20))
        .hasMessageContaining("Image has 65536 bitmaps, exceeding the QEMU supported maximum of 65535");
    assertThatThrownBy(() -> new BitmapDirectoryCodec.Extension(0, 32, 0x40000).check(FILE, cluster, 1 << 20))
        .hasMessageContaining("zero bitmaps");
    assertThatThrownBy(() -> new BitmapDirectoryCodec.Extension(1, 32, 0x40200).check(FILE, cluster, 1 << 20))
        .hasMessageContaining("invalid bitmap directory offset");
    assertThatThrownBy(() -> new BitmapDirectoryCodec.Extension(1, 1024L * 65535 + 1, 0x40000).check(FILE, cluster,
        1L << 40)).hasMessageContaining("exceeds the maximum supported size (67107840)");
    assertThatThrownBy(() -> new BitmapDirectoryCodec.Extension(1, 32, 0x100000).check(FILE, cluster, 0x100010))
        .hasMessageContaining("past the end of the file");
    byte[] reserved = new BitmapDirectoryCodec.Extension(1, 32, 0x40000).encode();
    reserved[5] = 1;
    assertThatThrownBy(() -> BitmapDirectoryCodec.Extension.decodeChecked(FILE, reserved, cluster, 1 << 20))
        .hasMessageContaining("Reserved field is not zero");
  }

  @Test
  void tableEntriesAsQemuChecksThem() throws IOException {
    int cluster = 65536;
    assertThat(BitmapDirectoryCodec.dataOffset(FILE, "b", 0, 0, cluster)).isZero();
    assertThat(BitmapDirectoryCodec.dataOffset(FILE, "b", 0, BitmapDirectoryCodec.TABLE_ALL_ONES, cluster)).isZero();
    assertThat(BitmapDirectoryCodec.dataOffset(FILE, "b", 0, 0x30000, cluster)).isEqualTo(0x30000);
    for (long bad : new long[] {0x30001, 0x30200, 2, 1L << 56}) {
      assertThat(BitmapDirectoryCodec.validTableEntry(bad, cluster)).isFalse();
      assertThatThrownBy(() -> BitmapDirectoryCodec.dataOffset(FILE, "b", 3, bad, cluster))
          .isExactlyInstanceOf(CorruptImageException.class).hasMessageContaining("bitmap 'b': entry 3 is invalid");
    }
    // 1 GiB at 64 KiB granularity: 16384 bits, 2 KiB, one 64 KiB cluster; at 512 bytes 2^21 bits, 4 clusters.
    assertThat(BitmapDirectoryCodec.tableEntries(1L << 30, 16, cluster)).isEqualTo(1);
    assertThat(BitmapDirectoryCodec.tableEntries(1L << 30, 9, cluster)).isEqualTo(4);
    assertThat(BitmapDirectoryCodec.bitCount(65537, 16)).isEqualTo(2);
  }

  /** One directory entry laid out by hand from the spec. */
  private static byte[] entry(long tableOffset, int tableSize, int flags, int granularityBits, String name, byte[] extra) {
    byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
    ByteBuffer out = ByteBuffer.allocate((24 + extra.length + nameBytes.length + 7) & ~7);
    out.putLong(tableOffset).putInt(tableSize).putInt(flags).put((byte) 1).put((byte) granularityBits)
        .putShort((short) nameBytes.length).putInt(extra.length).put(extra).put(nameBytes);
    return out.array();
  }

  private static byte[] concat(byte[] first, byte[] second) {
    byte[] both = Arrays.copyOf(first, first.length + second.length);
    System.arraycopy(second, 0, both, first.length, second.length);
    return both;
  }
}
