package io.qcow4j.bochs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.storage.MemoryStorage;
import io.qcow4j.testing.BochsImages;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Bochs reader over images built from the format's description: sectors read through the
 * catalog and each extent's bitmap, the header refused as QEMU's bochs_open refuses it (same
 * words), and the limits on what a hostile header can make us allocate or compute.
 */
class BochsFileTest {
  @TempDir Path dir;

  private static BochsImages sample() {
    return new BochsImages(3 * 65536 + 7 * 512, 65536)
        .write(0, 8, 1)
        .write(127, 1, 2)
        .write(128 * 2 + 3, 4, 3)
        .write(128 * 3 + 6, 1, 4)
        .garbageBehindClearBits(9, 5);
  }

  private static BochsFile open(byte[] image) throws IOException {
    return BochsFile.open(new MemoryStorage("t.bochs", image, true), null);
  }

  @ParameterizedTest
  @ValueSource(ints = {0x00020000, 0x00010000})
  void readsEverySectorThroughTheCatalogAndBitmaps(int version) throws IOException {
    BochsImages image = sample();
    image.version = version;
    byte[] expected = image.expected();
    try (BochsFile file = open(image.bytes())) {
      assertThat(file.size()).isEqualTo(expected.length);
      byte[] whole = new byte[expected.length];
      file.readFully(ByteBuffer.wrap(whole), 0);
      assertThat(Arrays.mismatch(whole, expected)).as("first differing byte").isEqualTo(-1);
      Random random = new Random(42);
      for (int i = 0; i < 200; i++) {
        int offset = random.nextInt(expected.length);
        int length = 1 + random.nextInt(Math.min(expected.length - offset, 70000));
        byte[] part = new byte[length];
        file.readFully(ByteBuffer.wrap(part), offset);
        assertThat(part).as("read at " + offset + " of " + length).isEqualTo(Arrays.copyOfRange(expected, offset,
            offset + length));
      }
    }
  }

  @Test
  void reportsTheWholeDiskAsDataAtNoOffsetAsQemuWithoutBlockStatus() throws IOException {
    try (BochsFile file = open(sample().bytes())) {
      Extent extent = file.blockStatus(1024, file.size());
      assertThat(extent).isEqualTo(new Extent(1024, file.size() - 1024, 0, true, false, true, false, -1, null));
      assertThat(file.info().format()).isEqualTo(ImageFormat.BOCHS);
    }
  }

  @Test
  void isProbedByItsMagicAndOpenedReadOnly() throws IOException {
    Path path = dir.resolve("probe.img");
    Files.write(path, sample().bytes());
    try (DiskFile file = DiskImages.open(path, OpenOptions.readOnlyDefaults())) {
      assertThat(file.format()).isEqualTo(ImageFormat.BOCHS);
    }
    assertThatThrownBy(() -> DiskImages.open(path, OpenOptions.readWriteDefaults()).close())
        .isInstanceOf(UnsupportedFeatureException.class)
        .hasMessageContaining("image format 'bochs' is supported read-only");
  }

  private void refused(Consumer<BochsImages> change, Class<? extends Exception> type, String message) {
    BochsImages image = sample();
    change.accept(image);
    assertThatThrownBy(() -> open(image.bytes()).close()).isInstanceOf(type).hasMessage("t.bochs: " + message);
  }

  @Test
  void refusesWhatBochsOpenRefusesWithItsWords() {
    refused(image -> image.magic = "Bochs Virtual HD Imag", CorruptImageException.class, "Image not in Bochs format");
    refused(image -> image.subtype = "Undoable", CorruptImageException.class, "Image not in Bochs format");
    refused(image -> image.type = "Redolog-with-more", CorruptImageException.class, "Image not in Bochs format");
    refused(image -> image.version = 0x00030000, CorruptImageException.class, "Image not in Bochs format");
    refused(image -> image.extentSize = 256, CorruptImageException.class, "Extent size must be at least 512");
    refused(image -> image.extentSize = 3 * 512, CorruptImageException.class, "Extent size 1536 is not a power of two");
    refused(image -> image.extentSize = 16 << 20, CorruptImageException.class, "Extent size 16777216 is too large");
    refused(image -> image.catalogEntries = 3, CorruptImageException.class,
        "Catalog size is too small for this disk size");
    refused(image -> image.diskSize = 1L << 40, CorruptImageException.class,
        "Catalog size is too small for this disk size");
  }

  @Test
  void refusesACatalogOverQemusLimitBeforeReadingIt() {
    refused(image -> image.catalogEntries = 0x100001, ImageLimitException.class,
        "Catalog size is too large");
    refused(image -> image.catalogEntries = -1, ImageLimitException.class,
        "Catalog size is too large");
  }

  @Test
  void readsZerosWhereTheCatalogOrAnExtentLiesPastTheEndOfTheFile() throws IOException {
    BochsImages image = new BochsImages(4 * 65536, 65536).write(0, 1, 7);
    byte[] bytes = image.bytes();
    // the catalog's second entry points at extent 1000, far past the end
    ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(512 + 4, 1000);
    try (BochsFile file = open(bytes)) {
      byte[] second = new byte[65536];
      file.readFully(ByteBuffer.wrap(second), 65536);
      assertThat(second).isEqualTo(new byte[65536]);
    }
    BochsImages catalogPastEnd = new BochsImages(4 * 65536, 65536);
    catalogPastEnd.headerSize = 1 << 30;
    try (BochsFile file = open(Arrays.copyOf(catalogPastEnd.bytes(), 512))) {
      byte[] first = new byte[512];
      file.readFully(ByteBuffer.wrap(first), 0);
      assertThat(first).isEqualTo(new byte[512]);
    }
  }

  @Test
  void refusesAnExtentWhoseOffsetWouldPassTwoToTheSixtyThree() throws IOException {
    BochsImages image = new BochsImages(4 * 65536, 65536).write(0, 1, 7);
    byte[] bytes = image.bytes();
    // a bitmap size of 0 is 2^32 bytes of bitmap in QEMU's arithmetic: extent 0xfffffffe lies past 2^64
    ByteBuffer buffer = ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    buffer.putInt(76, 0);
    buffer.putInt(512, 0xfffffffe);
    try (BochsFile file = open(bytes)) {
      assertThatThrownBy(() -> file.readFully(ByteBuffer.allocate(512), 0))
          .isInstanceOf(CorruptImageException.class)
          .hasMessage("t.bochs: Bochs catalog entry 0 (4294967294) places its extent past the largest file offset");
    }
  }
}
