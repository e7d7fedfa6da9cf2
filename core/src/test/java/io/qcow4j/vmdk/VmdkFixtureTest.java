package io.qcow4j.vmdk;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * VMDKs built from VMware's "Virtual Disk Format 5.0" (see {@link VmdkFixtures}): ESXi's vmfs and
 * vmfsSparse descriptors, a descriptor with several FLAT extents at offsets, and a streamOptimized
 * extent with its grain directory behind the footer. Each reads as the fixture says and as
 * qemu-img convert reads it.
 */
class VmdkFixtureTest {
  private static final int GRAIN = 64 << 10;

  @TempDir Path dir;

  @Test
  void readsAnEsxiVmfsDescriptorWithItsFlatExtent() throws IOException {
    long size = 4L << 20;
    byte[] guest = VmdkFixtures.pattern(3, (int) size);
    Files.write(dir.resolve("esx-flat.vmdk"), guest);
    Path image = VmdkFixtures.text(dir.resolve("esx.vmdk"), VmdkFixtures.esxiDescriptor("vmfs", "fffffffe",
        "ffffffff", null, "RW " + size / 512 + " VMFS \"esx-flat.vmdk\""));
    assertReads(image, guest);
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults())) {
      ImageInfo.VmdkInfo vmdk = disk.info().vmdk();
      assertThat(vmdk.createType()).isEqualTo("vmfs");
      assertThat(vmdk.cid()).isEqualTo(0xfffffffeL);
      assertThat(vmdk.clusterSize()).isZero();
      assertThat(vmdk.extents()).singleElement().satisfies(extent -> {
        assertThat(extent.format()).isEqualTo("VMFS");
        assertThat(extent.clusterSize()).isNull();
        assertThat(extent.filename()).isEqualTo(dir.resolve("esx-flat.vmdk").toString());
      });
    }
  }

  @Test
  void readsSeveralFlatExtentsAtTheirOffsets() throws IOException {
    // three extents in two files; the second file's extent starts 8 sectors in, the third is not RW and is skipped
    byte[] first = VmdkFixtures.pattern(5, 1 << 20);
    byte[] second = VmdkFixtures.pattern(6, (1 << 20) + 8 * 512);
    Files.write(dir.resolve("multi-f001.vmdk"), first);
    Files.write(dir.resolve("multi-f002.vmdk"), second);
    Path image = VmdkFixtures.text(dir.resolve("multi.vmdk"), VmdkFixtures.esxiDescriptor("monolithicFlat",
        "12345678", "ffffffff", null,
        "RW 2048 FLAT \"multi-f001.vmdk\" 0",
        "RW 2048 FLAT \"multi-f002.vmdk\" 8",
        "RDONLY 2048 FLAT \"multi-f001.vmdk\" 0"));
    byte[] guest = new byte[2 << 20];
    System.arraycopy(first, 0, guest, 0, 1 << 20);
    System.arraycopy(second, 8 * 512, guest, 1 << 20, 1 << 20);
    assertReads(image, guest);
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults())) {
      assertThat(disk.info().vmdk().extents()).extracting(ImageInfo.VmdkExtentInfo::format).containsExactly("FLAT", "FLAT");
      assertThat(disk.blockStatus(1 << 20, 4096).hostOffset()).isEqualTo(8 * 512);
    }
  }

  @Test
  void readsAnEsxiSnapshotDeltaOverItsParent() throws IOException {
    long size = 4L << 20;
    byte[] base = VmdkFixtures.pattern(9, (int) size);
    Files.write(dir.resolve("esx-flat.vmdk"), base);
    VmdkFixtures.text(dir.resolve("esx.vmdk"), VmdkFixtures.esxiDescriptor("vmfs", "2b3c4d5e", "ffffffff", null,
        "RW " + size / 512 + " VMFS \"esx-flat.vmdk\""));
    Map<Integer, byte[]> grains = Map.of(1, VmdkFixtures.pattern(1, GRAIN), 40, VmdkFixtures.pattern(2, GRAIN));
    Files.write(dir.resolve("esx-000001-delta.vmdk"), VmdkFixtures.cowd(size / 512, GRAIN / 512, grains));
    Path image = VmdkFixtures.text(dir.resolve("esx-000001.vmdk"), VmdkFixtures.esxiDescriptor("vmfsSparse",
        "6a7b8c9d", "2b3c4d5e", "esx.vmdk", "RW " + size / 512 + " VMFSSPARSE \"esx-000001-delta.vmdk\""));
    byte[] guest = base.clone();
    for (Map.Entry<Integer, byte[]> grain : grains.entrySet()) {
      System.arraycopy(grain.getValue(), 0, guest, grain.getKey() * GRAIN, GRAIN);
    }
    assertReads(image, guest);
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults())) {
      ImageInfo info = disk.info();
      assertThat(info.backingFile()).isEqualTo("esx.vmdk");
      assertThat(info.vmdk().createType()).isEqualTo("vmfsSparse");
      assertThat(info.vmdk().parentCid()).isEqualTo(0x2b3c4d5eL);
      assertThat(info.vmdk().extents()).singleElement().satisfies(extent -> {
        assertThat(extent.format()).isEqualTo("VMFSSPARSE");
        assertThat(extent.clusterSize()).isEqualTo(GRAIN);
      });
      assertThat(disk.blockStatus(0, GRAIN).depth()).isEqualTo(1);
      assertThat(disk.blockStatus(GRAIN, GRAIN).depth()).isZero();
    }
  }

  @Test
  void readsAStreamOptimizedExtentWhoseGrainDirectoryFollowsTheFooter() throws IOException {
    long size = 40L << 20;
    Map<Integer, byte[]> grains = Map.of(0, VmdkFixtures.pattern(1, GRAIN), 3, VmdkFixtures.pattern(2, GRAIN),
        600, VmdkFixtures.pattern(3, GRAIN), 639, VmdkFixtures.pattern(4, GRAIN));
    String descriptor = VmdkFixtures.esxiDescriptor("streamOptimized", "0badcafe", "ffffffff", null,
        "RW " + size / 512 + " SPARSE \"vmware.vmdk\"");
    Path image = dir.resolve("vmware.vmdk");
    Files.write(image, VmdkFixtures.streamOptimized(size / 512, grains, descriptor));
    assertReads(image, VmdkFixtures.guest(size, GRAIN, grains));
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults())) {
      assertThat(disk.info().vmdk().createType()).isEqualTo("streamOptimized");
      assertThat(disk.info().vmdk().cid()).isEqualTo(0x0badcafeL);
      assertThat(disk.blockStatus(3 * GRAIN, GRAIN).compressed()).isTrue();
      assertThat(disk.blockStatus(4 * GRAIN, GRAIN).present()).isFalse();
    }
  }

  /** Our reads equal {@code guest}, and qemu-img convert reads the fixture the same way. */
  private void assertReads(Path image, byte[] guest) throws IOException {
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults())) {
      assertThat(disk.size()).isEqualTo(guest.length);
      ByteBuffer whole = ByteBuffer.allocate(guest.length);
      disk.readFully(whole, 0);
      assertThat(Arrays.mismatch(whole.array(), guest)).as("first byte we read wrong").isEqualTo(-1);
    }
    Path raw = dir.resolve("qemu.raw");
    QemuTools.in(dir).img("convert", "-O", "raw", image, raw);
    assertThat(Arrays.mismatch(Files.readAllBytes(raw), guest)).as("first byte qemu-img reads otherwise").isEqualTo(-1);
    Files.delete(raw);
  }
}
