package io.qcow4j.vpc;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A differencing VHD, which qemu-img cannot make, built from a dynamic one as Microsoft's "Virtual
 * Hard Disk Image Format Specification" (October 2006) describes it: disk type 4 in the footer, a
 * "W2ru" parent locator holding the parent's relative path in UTF-16LE, and per block a sector
 * bitmap (most significant bit first) saying which sectors the child holds; the rest, and
 * unallocated blocks, read from the parent.
 */
class VpcDifferencingTest {
  private static final int MIB = 1 << 20;
  @TempDir Path dir;

  @Test
  void readsThroughTheSectorBitmapsAndTheParentLocator() throws IOException {
    Path parent = dir.resolve("parent.vhd");
    QemuTools.in(dir).img("create", "-q", "-f", "vpc", "-o", "subformat=dynamic", parent, "16M");
    QemuTools.in(dir).io("-f", "vpc", "-c", "write -P 0x41 0 8M", parent);
    Path child = dir.resolve("child.vhd");
    QemuTools.in(dir).img("create", "-q", "-f", "vpc", "-o", "subformat=dynamic", child, "16M");
    QemuTools.in(dir).io("-f", "vpc", "-c", "write -P 0x77 0 2M", "-c", "write -P 0x78 4M 2M", child);
    try (FileChannel file = FileChannel.open(child, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer dynamicHeader = read(file, 512, VhdDynamicHeader.SIZE);
      VhdDynamicHeader header = VhdDynamicHeader.decode(dynamicHeader.array());
      // block 0: the child holds sectors 0..7 and 16..23, the parent the rest
      long block0 = Integer.toUnsignedLong(read(file, header.tableOffset(), 4).getInt(0)) * 512;
      byte[] bitmap = new byte[(int) header.bitmapBytes()];
      bitmap[0] = (byte) 0xff;
      bitmap[2] = (byte) 0xff;
      file.write(ByteBuffer.wrap(bitmap), block0);
      // block 2 (4 MiB): the child holds every sector; blocks 1 and 3.. are not allocated

      byte[] locator = ".\\parent.vhd".getBytes(StandardCharsets.UTF_16LE);
      long locatorOffset = file.size() - 512;
      ByteBuffer footer = read(file, locatorOffset, 512);
      file.write(ByteBuffer.wrap(Arrays.copyOf(locator, 512)), locatorOffset);
      footer.putInt(60, (int) VhdFooter.DIFFERENCING);
      footer.putInt(64, (int) VhdFooter.checksum(footer.array(), 0, 512, 64));
      file.write(footer.duplicate().clear(), locatorOffset + 512);
      file.write(footer.duplicate().clear(), 0);

      dynamicHeader.put(576, "W2ru".getBytes(StandardCharsets.US_ASCII));
      dynamicHeader.putInt(580, 512);
      dynamicHeader.putInt(584, locator.length);
      dynamicHeader.putLong(592, locatorOffset);
      byte[] name = "parent.vhd".getBytes(StandardCharsets.UTF_16BE);
      dynamicHeader.put(64, name);
      dynamicHeader.putInt(36, (int) VhdFooter.checksum(dynamicHeader.array(), 0, VhdDynamicHeader.SIZE, 36));
      file.write(dynamicHeader.clear(), 512);
    }

    byte[] expected = new byte[16 * MIB];
    Arrays.fill(expected, 0, 8 * MIB, (byte) 0x41);
    Arrays.fill(expected, 0, 8 * 512, (byte) 0x77);
    Arrays.fill(expected, 16 * 512, 24 * 512, (byte) 0x77);
    Arrays.fill(expected, 4 * MIB, 6 * MIB, (byte) 0x78);
    try (DiskFile disk = DiskImages.open(child, OpenOptions.readOnlyDefaults().withFormat(ImageFormat.VPC))) {
      assertThat(disk.backing()).get().extracting(DiskFile::files).asList().containsExactly(parent);
      ByteBuffer contents = ByteBuffer.allocate(16 * MIB);
      disk.readFully(contents, 0);
      assertThat(Arrays.mismatch(contents.array(), expected)).as("first differing byte").isEqualTo(-1);

      assertThat(disk.blockStatus(0, 16 * MIB)).returns(8L * 512, Extent::length).returns(0, Extent::depth)
          .returns(true, Extent::data);
      assertThat(disk.blockStatus(8 * 512, 16 * MIB)).returns(8L * 512, Extent::length).returns(1, Extent::depth);
      assertThat(disk.blockStatus(2 * MIB, MIB)).returns(1, Extent::depth);
      assertThat(disk.blockStatus(4 * MIB, 16 * MIB)).returns(0, Extent::depth).returns(2L * MIB, Extent::length);
    }

    // info opens no parent, and QEMU knows of none
    try (DiskFile disk = DiskImages.open(child, OpenOptions.readOnlyDefaults().withFormat(ImageFormat.VPC)
        .withBackingPolicy(io.qcow4j.disk.BackingPolicy.IGNORE))) {
      assertThat(disk.backing()).isEmpty();
      assertThat(disk.info().backingFile()).isNull();
    }

    Files.delete(parent);
    org.assertj.core.api.Assertions.assertThatThrownBy(
        () -> DiskImages.open(child, OpenOptions.readOnlyDefaults().withFormat(ImageFormat.VPC)).close())
        .hasMessageContaining("the parent of this differencing VHD (parent.vhd, parent.vhd) does not exist");
  }

  private static ByteBuffer read(FileChannel file, long offset, int length) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(length).order(ByteOrder.BIG_ENDIAN);
    file.read(buffer, offset);
    return buffer.clear();
  }
}
