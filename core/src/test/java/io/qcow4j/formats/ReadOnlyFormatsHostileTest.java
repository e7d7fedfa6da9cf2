package io.qcow4j.formats;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.ReadOnlyImageException;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.testing.QemuTools;
import io.qcow4j.vpc.VhdFooter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile headers and tables of each read-only format, made by patching images qemu-img creates:
 * each is refused with a named exception that names the file, before anything large is allocated.
 */
class ReadOnlyFormatsHostileTest {
  @TempDir Path dir;

  private Path create(String name, String format, String... options) {
    Path image = dir.resolve(name);
    Object[] args = new Object[6 + options.length];
    args[0] = "create";
    args[1] = "-q";
    args[2] = "-f";
    args[3] = format;
    System.arraycopy(options, 0, args, 4, options.length);
    args[4 + options.length] = image;
    args[5 + options.length] = "16M";
    QemuTools.in(dir).img(args);
    return image;
  }

  private static void patch(Path image, long offset, ByteOrder order, int width, long value) throws IOException {
    ByteBuffer bytes = ByteBuffer.allocate(width).order(order);
    switch (width) {
      case 1 -> bytes.put((byte) value);
      case 2 -> bytes.putShort((short) value);
      case 4 -> bytes.putInt((int) value);
      default -> bytes.putLong(value);
    }
    try (FileChannel channel = FileChannel.open(image, StandardOpenOption.WRITE)) {
      channel.write(bytes.flip(), offset);
    }
  }

  private static ThrowingCallable opening(Path image, ImageFormat format) {
    return () -> {
      try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults().withFormat(format))) {
        ByteBuffer buffer = ByteBuffer.allocate((int) Math.min(disk.size(), 16 << 20));
        disk.readFully(buffer, 0);
      }
    };
  }

  /** Rewrites the checksum of the VHD footer at {@code offset}, so that only the field under test is wrong. */
  private static void fixFooterChecksum(Path image, long offset) throws IOException {
    byte[] footer = new byte[512];
    try (FileChannel channel = FileChannel.open(image, StandardOpenOption.READ)) {
      channel.read(ByteBuffer.wrap(footer), offset);
    }
    patch(image, offset + 64, ByteOrder.BIG_ENDIAN, 4, VhdFooter.checksum(footer, 0, 512, 64));
  }

  @Test
  void vpc() throws IOException {
    Path tiny = dir.resolve("tiny.vpc");
    Files.write(tiny, new byte[100]);
    assertThatThrownBy(opening(tiny, ImageFormat.VPC)).isInstanceOf(CorruptImageException.class)
        .hasMessage(tiny + ": invalid VPC image");

    Path notVhd = dir.resolve("zeros.vpc");
    Files.write(notVhd, new byte[4096]);
    assertThatThrownBy(opening(notVhd, ImageFormat.VPC)).isInstanceOf(CorruptImageException.class)
        .hasMessage(notVhd + ": invalid VPC image");

    // a dynamic disk whose footer copy at the start is damaged is not taken for a fixed one
    Path damagedCopy = create("copy.vpc", "vpc");
    patch(damagedCopy, 0, ByteOrder.BIG_ENDIAN, 1, 'X');
    assertThatThrownBy(opening(damagedCopy, ImageFormat.VPC)).isInstanceOf(CorruptImageException.class)
        .hasMessage(damagedCopy + ": invalid VPC image");

    Path checksum = create("checksum.vpc", "vpc");
    patch(checksum, 24, ByteOrder.BIG_ENDIAN, 4, 12345);
    assertThatThrownBy(opening(checksum, ImageFormat.VPC)).isInstanceOf(CorruptImageException.class)
        .hasMessage(checksum + ": Incorrect header checksum");

    Path fixedChecksum = create("fixed.vpc", "vpc", "-o", "subformat=fixed");
    long footerAt = Files.size(fixedChecksum) - 512;
    patch(fixedChecksum, footerAt + 24, ByteOrder.BIG_ENDIAN, 4, 12345);
    assertThatThrownBy(opening(fixedChecksum, ImageFormat.VPC)).isInstanceOf(CorruptImageException.class)
        .hasMessage(fixedChecksum + ": Incorrect header checksum");

    Path headerPastEnd = create("header.vpc", "vpc");
    patch(headerPastEnd, 16, ByteOrder.BIG_ENDIAN, 8, 1L << 40);
    fixFooterChecksum(headerPastEnd, 0);
    // past the end of the file reads as zeros, as QEMU's file driver reads it
    assertThatThrownBy(opening(headerPastEnd, ImageFormat.VPC)).isInstanceOf(CorruptImageException.class)
        .hasMessage(headerPastEnd + ": Invalid header magic");

    Path blockSize = create("blocksize.vpc", "vpc");
    patch(blockSize, 512 + 32, ByteOrder.BIG_ENDIAN, 4, 3 << 20);
    assertThatThrownBy(opening(blockSize, ImageFormat.VPC)).isInstanceOf(CorruptImageException.class)
        .hasMessage(blockSize + ": Invalid block size " + (3 << 20));

    Path hugeTable = create("table.vpc", "vpc");
    patch(hugeTable, 512 + 28, ByteOrder.BIG_ENDIAN, 4, 0x10000000);
    assertThatThrownBy(opening(hugeTable, ImageFormat.VPC)).isInstanceOf(ImageLimitException.class)
        .hasMessageStartingWith(hugeTable + ": block allocation table of 1073741824 bytes is larger than the limit");

    Path shortTable = create("short.vpc", "vpc");
    patch(shortTable, 512 + 28, ByteOrder.BIG_ENDIAN, 4, 1);
    assertThatThrownBy(opening(shortTable, ImageFormat.VPC)).isInstanceOf(CorruptImageException.class)
        .hasMessage(shortTable + ": Page table too small");

    Path blockPastEnd = create("block.vpc", "vpc");
    patch(blockPastEnd, 1536, ByteOrder.BIG_ENDIAN, 4, 0x00100000);
    assertThatThrownBy(opening(blockPastEnd, ImageFormat.VPC)).isInstanceOf(CorruptImageException.class)
        .hasMessage(blockPastEnd + ": block-vpc: free_data_block_offset points after the end of file."
            + " The image has been truncated.");

    Path huge = create("huge.vpc", "vpc", "-o", "force_size=on");
    patch(huge, 48, ByteOrder.BIG_ENDIAN, 8, 1L << 50);
    fixFooterChecksum(huge, 0);
    assertThatThrownBy(opening(huge, ImageFormat.VPC)).isInstanceOf(ImageLimitException.class)
        .hasMessageStartingWith(huge + ": File too large");
  }

  @Test
  void vdi() throws IOException {
    Path tiny = dir.resolve("tiny.vdi");
    Files.write(tiny, new byte[100]);
    assertThatThrownBy(opening(tiny, ImageFormat.VDI)).isInstanceOf(CorruptImageException.class)
        .hasMessage(tiny + ": VDI header at offset 0 (512 bytes) lies past the end of the file (100 bytes)");

    Path signature = create("signature.vdi", "vdi");
    patch(signature, 64, ByteOrder.LITTLE_ENDIAN, 4, 0x12345678);
    assertThatThrownBy(opening(signature, ImageFormat.VDI)).isInstanceOf(CorruptImageException.class)
        .hasMessage(signature + ": Image not in VDI format (bad signature 12345678)");

    Path blockSize = create("blocksize.vdi", "vdi");
    patch(blockSize, 376, ByteOrder.LITTLE_ENDIAN, 4, 4096);
    assertThatThrownBy(opening(blockSize, ImageFormat.VDI)).isInstanceOf(UnsupportedFeatureException.class)
        .hasMessage(blockSize + ": unsupported VDI image (block size 4096 is not 1048576)");

    Path hugeMap = create("map.vdi", "vdi");
    patch(hugeMap, 368, ByteOrder.LITTLE_ENDIAN, 8, 1L << 44);
    patch(hugeMap, 384, ByteOrder.LITTLE_ENDIAN, 4, 1L << 24);
    assertThatThrownBy(opening(hugeMap, ImageFormat.VDI)).isInstanceOf(ImageLimitException.class)
        .hasMessageStartingWith(hugeMap + ": VDI block map of 67108864 bytes is larger than the limit");

    Path mapPastEnd = create("mapend.vdi", "vdi");
    patch(mapPastEnd, 340, ByteOrder.LITTLE_ENDIAN, 4, 1L << 30);
    assertThatThrownBy(opening(mapPastEnd, ImageFormat.VDI)).isInstanceOf(CorruptImageException.class)
        .hasMessageStartingWith(mapPastEnd + ": VDI block map at offset 1073741824");

    Path tooBig = create("size.vdi", "vdi");
    patch(tooBig, 368, ByteOrder.LITTLE_ENDIAN, 8, -1L);
    assertThatThrownBy(opening(tooBig, ImageFormat.VDI)).isInstanceOf(UnsupportedFeatureException.class)
        .hasMessageStartingWith(tooBig + ": Unsupported VDI image size (size is 0xffffffffffffffff");
  }

  @Test
  void qed() throws IOException {
    Path magic = create("magic.qed", "qed");
    patch(magic, 0, ByteOrder.LITTLE_ENDIAN, 4, 0);
    assertThatThrownBy(opening(magic, ImageFormat.QED)).isInstanceOf(CorruptImageException.class)
        .hasMessage(magic + ": Image not in QED format");

    Path features = create("features.qed", "qed");
    patch(features, 16, ByteOrder.LITTLE_ENDIAN, 8, 0x100);
    assertThatThrownBy(opening(features, ImageFormat.QED)).isInstanceOf(UnsupportedFeatureException.class)
        .hasMessage(features + ": Unsupported QED features: 100");

    Path tableSize = create("tablesize.qed", "qed");
    patch(tableSize, 8, ByteOrder.LITTLE_ENDIAN, 4, 3);
    assertThatThrownBy(opening(tableSize, ImageFormat.QED)).isInstanceOf(CorruptImageException.class)
        .hasMessageStartingWith(tableSize + ": QED table size is invalid");

    Path l1PastEnd = create("l1.qed", "qed");
    patch(l1PastEnd, 40, ByteOrder.LITTLE_ENDIAN, 8, 1L << 40);
    assertThatThrownBy(opening(l1PastEnd, ImageFormat.QED)).isInstanceOf(CorruptImageException.class)
        .hasMessageStartingWith(l1PastEnd + ": QED table offset is invalid");

    Path imageSize = create("imagesize.qed", "qed");
    patch(imageSize, 48, ByteOrder.LITTLE_ENDIAN, 8, 1L << 62);
    assertThatThrownBy(opening(imageSize, ImageFormat.QED)).isInstanceOf(CorruptImageException.class)
        .hasMessageStartingWith(imageSize + ": QED image size is invalid");

    Path backingName = create("backing.qed", "qed");
    patch(backingName, 16, ByteOrder.LITTLE_ENDIAN, 8, 1);
    patch(backingName, 56, ByteOrder.LITTLE_ENDIAN, 4, 64);
    patch(backingName, 60, ByteOrder.LITTLE_ENDIAN, 4, 4000);
    assertThatThrownBy(opening(backingName, ImageFormat.QED)).isInstanceOf(ImageLimitException.class)
        .hasMessageStartingWith(backingName + ": backing file name of 4000 bytes");

    // an L1 entry that points past the end of the file: refused where it is used
    Path l2PastEnd = create("l2.qed", "qed");
    QemuTools.in(dir).io("-f", "qed", "-c", "write -P 0x5a 0 64k", l2PastEnd);
    long l1Offset = ByteBuffer.wrap(Files.readAllBytes(l2PastEnd), 40, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    patch(l2PastEnd, l1Offset, ByteOrder.LITTLE_ENDIAN, 8, 1L << 40);
    assertThatThrownBy(opening(l2PastEnd, ImageFormat.QED)).isInstanceOf(CorruptImageException.class)
        .hasMessage(l2PastEnd + ": L1 entry 0 points to an invalid L2 table offset " + (1L << 40));
  }

  @Test
  void qcow() throws IOException {
    Path version = create("version.qcow", "qcow");
    patch(version, 4, ByteOrder.BIG_ENDIAN, 4, 2);
    assertThatThrownBy(opening(version, ImageFormat.QCOW)).isInstanceOf(UnsupportedFeatureException.class)
        .hasMessage(version + ": qcow (v1) does not support qcow version 2; try the 'qcow2' driver instead");

    Path clusterBits = create("cluster.qcow", "qcow");
    patch(clusterBits, 32, ByteOrder.BIG_ENDIAN, 1, 20);
    assertThatThrownBy(opening(clusterBits, ImageFormat.QCOW)).isInstanceOf(CorruptImageException.class)
        .hasMessage(clusterBits + ": Cluster size must be between 512 and 64k");

    Path hugeL1 = create("l1.qcow", "qcow");
    patch(hugeL1, 24, ByteOrder.BIG_ENDIAN, 8, 1L << 60);
    assertThatThrownBy(opening(hugeL1, ImageFormat.QCOW)).isInstanceOf(ImageLimitException.class)
        .hasMessageStartingWith(hugeL1 + ": qcow L1 table of");

    Path l1PastEnd = create("l1end.qcow", "qcow");
    patch(l1PastEnd, 40, ByteOrder.BIG_ENDIAN, 8, 1L << 40);
    assertThatThrownBy(opening(l1PastEnd, ImageFormat.QCOW)).isInstanceOf(CorruptImageException.class)
        .hasMessageStartingWith(l1PastEnd + ": qcow L1 table at offset " + (1L << 40));

    Path encrypted = create("crypt.qcow", "qcow");
    patch(encrypted, 36, ByteOrder.BIG_ENDIAN, 4, 1);
    assertThatThrownBy(opening(encrypted, ImageFormat.QCOW)).isInstanceOf(UnsupportedFeatureException.class)
        .hasMessage(encrypted + ": AES-CBC encrypted qcow images are not supported by qcow4j");

    Path longName = create("name.qcow", "qcow");
    patch(longName, 8, ByteOrder.BIG_ENDIAN, 8, 48);
    patch(longName, 16, ByteOrder.BIG_ENDIAN, 4, 5000);
    assertThatThrownBy(opening(longName, ImageFormat.QCOW)).isInstanceOf(ImageLimitException.class)
        .hasMessageStartingWith(longName + ": Backing file name too long");

    // a compressed cluster whose bytes are not deflate data
    Path garbage = create("garbage.qcow", "qcow");
    QemuTools.in(dir).io("-f", "qcow", "-c", "write -c -P 0x5a 0 4k", garbage);
    byte[] bytes = Files.readAllBytes(garbage);
    long l1Offset = ByteBuffer.wrap(bytes, 40, 8).getLong();
    long l2Offset = ByteBuffer.wrap(bytes, (int) l1Offset, 8).getLong();
    long entry = ByteBuffer.wrap(bytes, (int) l2Offset, 8).getLong();
    long compressedAt = entry & ((1L << (63 - 12)) - 1);
    patch(garbage, compressedAt, ByteOrder.BIG_ENDIAN, 8, -1L);
    assertThatThrownBy(opening(garbage, ImageFormat.QCOW)).isInstanceOf(CorruptImageException.class)
        .hasMessageStartingWith(garbage + ": compressed cluster at host offset " + compressedAt);
  }

  @Test
  void readWriteOpensAndWritesAreRefusedNamingTheFormat() throws IOException {
    Path image = create("rw.qed", "qed");
    byte[] before = Files.readAllBytes(image);
    assertThatThrownBy(() -> DiskImages.open(image, OpenOptions.readWriteDefaults()).close())
        .isInstanceOf(UnsupportedFeatureException.class)
        .hasMessage(image + ": image format 'qed' is supported read-only by qcow4j; open the image read-only");
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults())) {
      assertThat(disk.format()).isEqualTo(ImageFormat.QED);
      assertThatThrownBy(() -> disk.write(ByteBuffer.allocate(512), 0)).isInstanceOf(ReadOnlyImageException.class)
          .hasMessageContaining("qcow4j reads qed images only");
      assertThatThrownBy(() -> disk.writeZeroes(0, 512)).isInstanceOf(ReadOnlyImageException.class);
      assertThatThrownBy(() -> disk.discard(0, 512)).isInstanceOf(ReadOnlyImageException.class);
      assertThatThrownBy(() -> disk.resize(1 << 20)).isInstanceOf(ReadOnlyImageException.class);
    }
    assertThat(Files.readAllBytes(image)).isEqualTo(before);
  }
}
