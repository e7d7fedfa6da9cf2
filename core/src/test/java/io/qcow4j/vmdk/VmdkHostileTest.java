package io.qcow4j.vmdk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.testing.QemuTools;
import io.qcow4j.vmdk.format.SparseHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.FileSystemException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile VMDKs: each damaged header, table, grain or descriptor is refused with its own named
 * error (naming the file and the field or offset), before anything large is allocated from it.
 */
class VmdkHostileTest {
  private static final OpenOptions VMDK = OpenOptions.readOnlyDefaults().withFormat(ImageFormat.VMDK);

  @TempDir Path dir;
  private Path sparse;
  private SparseHeader header;

  /** A monolithicSparse image with data in its first grains, as qemu-img makes it. */
  @BeforeEach
  void makeSparseImage() throws IOException {
    sparse = dir.resolve("sparse.vmdk");
    QemuTools.in(dir).img("create", "-q", "-f", "vmdk", sparse, "4M");
    QemuTools.in(dir).io("-f", "vmdk", "-c", "write -P 0x5a 0 128k", sparse);
    ByteBuffer first = ByteBuffer.allocate(512);
    try (FileChannel channel = FileChannel.open(sparse)) {
      channel.read(first, 0);
    }
    header = SparseHeader.decode(first.flip(), "test");
  }

  @Test
  void aTruncatedHeaderIsCorrupt() throws IOException {
    // the header's missing bytes read as zeros, as QEMU reads them; what is left is too short
    truncate(sparse, 100);
    assertRefused(sparse, CorruptImageException.class, "File truncated, expecting at least "
        + header.overheadSectors() * 512 + " bytes");
    truncate(sparse, 3);
    assertRefused(sparse, CorruptImageException.class, "File is too small");
  }

  @Test
  void aFileShorterThanItsOverheadIsTruncated() throws IOException {
    truncate(sparse, header.overheadSectors() * 512 - 512);
    assertRefused(sparse, CorruptImageException.class, "File truncated, expecting at least "
        + header.overheadSectors() * 512 + " bytes");
  }

  @Test
  void aHugeGrainDirectoryIsOverTheLimitBeforeItIsRead() throws IOException {
    putLong(sparse, 12, 1L << 50);
    putLong(sparse, 20, 1);
    putInt(sparse, 44, 1);
    assertRefused(sparse, ImageLimitException.class, "grain directory of " + (1L << 50) + " entries");
  }

  @Test
  void tooManyEntriesPerGrainTableAreRefused() throws IOException {
    putInt(sparse, 44, 4096);
    assertRefused(sparse, ImageLimitException.class, "L2 table size too big");
    putInt(sparse, 44, 0);
    assertRefused(sparse, CorruptImageException.class, "L1 entry size is invalid");
  }

  @Test
  void aGrainSizeOverQemusBoundIsInvalid() throws IOException {
    putLong(sparse, 20, 0x400000);
    putInt(sparse, 44, 1);
    assertRefused(sparse, CorruptImageException.class, "Invalid granularity");
  }

  @Test
  void aNewerVersionIsUnsupported() throws IOException {
    putInt(sparse, 4, 4);
    assertRefused(sparse, UnsupportedFeatureException.class, "Unsupported VMDK version 4");
  }

  @Test
  void aGrainDirectoryPastTheEndOfTheFileIsCorrupt() throws IOException {
    putLong(sparse, 56, Files.size(sparse) / 512);
    assertRefused(sparse, CorruptImageException.class, "grain directory at offset " + Files.size(sparse));
  }

  @Test
  void aGrainTablePastTheEndOfTheFileIsCorruptWhereItIsRead() throws IOException {
    putInt(sparse, header.gdOffsetSectors() * 512, (int) (Files.size(sparse) / 512 + 8));
    assertReadRefused(sparse, 0, "grain table 0 at host offset " + (Files.size(sparse) + 8 * 512)
        + " lies past the end of the file");
  }

  @Test
  void aGrainTableEntryPastTheEndOfTheFileIsCorruptWhereItIsRead() throws IOException {
    long table = Integer.toUnsignedLong(getInt(sparse, header.gdOffsetSectors() * 512)) * 512;
    putInt(sparse, table + 4, (int) (Files.size(sparse) / 512 + 1000));
    assertReadRefused(sparse, 64 << 10, "grain table entry 1 points at host offset "
        + (Files.size(sparse) + 1000 * 512) + ", past the end of the file");
    // the grain before it still reads
    try (DiskFile disk = DiskImages.open(sparse, VMDK)) {
      VmdkReadTest.assertPattern(disk, 0, 64 << 10, 0x5a);
    }
  }

  @Test
  void aFooterThatIsNotOneIsInvalid() throws IOException {
    putLong(sparse, 56, -1);
    assertRefused(sparse, CorruptImageException.class, "Invalid footer");
  }

  @Test
  void aCompressedGrainWithAnOversizedMarkerOrGarbageIsCorrupt() throws IOException {
    int grain = 64 << 10;
    Map<Integer, byte[]> grains = Map.of(0, VmdkFixtures.pattern(1, grain), 1, VmdkFixtures.pattern(2, grain));
    Path image = dir.resolve("stream.vmdk");
    Files.write(image, VmdkFixtures.streamOptimized(8192, grains, VmdkFixtures.esxiDescriptor("streamOptimized",
        "1", "ffffffff", null, "RW 8192 SPARSE \"stream.vmdk\"")));
    long firstGrain = 512L * (1 + (VmdkFixtures.esxiDescriptor("streamOptimized", "1", "ffffffff", null,
        "RW 8192 SPARSE \"stream.vmdk\"").length() + 511) / 512);
    putInt(image, firstGrain + 8, 3 * grain);
    assertReadRefused(image, 0, "compressed grain at host offset " + firstGrain + " has size " + 3 * grain);
    putInt(image, firstGrain + 8, 100);
    putLong(image, firstGrain + 12, 0x1234_5678_9abc_def0L);
    assertThatThrownBy(() -> {
      try (DiskFile disk = DiskImages.open(image, VMDK)) {
        disk.readFully(ByteBuffer.allocate(512), 0);
      }
    }).isInstanceOf(CorruptImageException.class).hasMessageContaining(image.toString())
        .hasMessageContaining("compressed grain at host offset " + firstGrain);
  }

  @Test
  void descriptorsWithoutACreateTypeOrWithBadExtentLinesAreRefused() throws IOException {
    Files.write(dir.resolve("d-flat.vmdk"), new byte[1 << 20]);
    Path image = dir.resolve("d.vmdk");
    VmdkFixtures.text(image, "# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n"
        + "RW 2048 FLAT \"d-flat.vmdk\" 0\n");
    assertRefused(image, CorruptImageException.class, "invalid VMDK image descriptor");
    VmdkFixtures.text(image, VmdkFixtures.esxiDescriptor("monolithicSparse", "1", "ffffffff", null,
        "RW 2048 FLAT \"d-flat.vmdk\" 0"));
    assertRefused(image, UnsupportedFeatureException.class, "Unsupported image type 'monolithicSparse'");
    VmdkFixtures.text(image, VmdkFixtures.esxiDescriptor("monolithicFlat", "1", "ffffffff", null,
        "RW 2048 FLAT \"d-flat.vmdk\""));
    assertRefused(image, CorruptImageException.class, "Invalid extent line: RW 2048 FLAT \"d-flat.vmdk\"");
    VmdkFixtures.text(image, VmdkFixtures.esxiDescriptor("monolithicFlat", "1", "ffffffff", null,
        "RDONLY 2048 FLAT \"d-flat.vmdk\" 0"));
    assertRefused(image, CorruptImageException.class, "lists no extent");
    VmdkFixtures.text(image, "# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\n"
        + "RW 2048 FLAT \"d-flat.vmdk\" 0\n");
    assertRefused(image, CorruptImageException.class, "has no readable CID field");
    VmdkFixtures.text(image, VmdkFixtures.esxiDescriptor("monolithicFlat", "1", "ffffffff", null,
        "RW 2048 FLAT \"missing-flat.vmdk\" 0"));
    assertThatThrownBy(() -> DiskImages.open(image, VMDK).close()).isInstanceOf(FileSystemException.class)
        .hasMessageEndingWith("Could not open '" + dir.resolve("missing-flat.vmdk") + "': No such file or directory");
  }

  @Test
  void extentPathsThatLeaveTheDescriptorsDirectoryAreRefused() throws IOException {
    Path inner = Files.createDirectories(dir.resolve("inner"));
    Files.write(dir.resolve("outside-flat.vmdk"), new byte[1 << 20]);
    Path image = inner.resolve("d.vmdk");
    for (String name : new String[] {"../outside-flat.vmdk", dir.resolve("outside-flat.vmdk").toString(),
        "sub/../../outside-flat.vmdk"}) {
      VmdkFixtures.text(image, VmdkFixtures.esxiDescriptor("monolithicFlat", "1", "ffffffff", null,
          "RW 2048 FLAT \"" + name + "\" 0"));
      assertRefused(image, UnsupportedFeatureException.class, "extent file '" + name
          + "' lies outside the descriptor's directory");
    }
  }

  @Test
  void tooManyExtentsOrAnOversizedDescriptorAreOverTheLimits() throws IOException {
    Files.write(dir.resolve("e-flat.vmdk"), new byte[512]);
    Path image = dir.resolve("e.vmdk");
    String[] lines = new String[VmdkLimits.MAX_EXTENTS + 1];
    java.util.Arrays.fill(lines, "RW 1 FLAT \"e-flat.vmdk\" 0");
    VmdkFixtures.text(image, VmdkFixtures.esxiDescriptor("monolithicFlat", "1", "ffffffff", null, lines));
    assertRefused(image, ImageLimitException.class, "more than " + VmdkLimits.MAX_EXTENTS + " extents");
    VmdkFixtures.text(image, VmdkFixtures.esxiDescriptor("monolithicFlat", "1", "ffffffff", null,
        "RW 1 FLAT \"e-flat.vmdk\" 0") + "#".repeat(1 << 20));
    assertRefused(image, ImageLimitException.class, "VMDK descriptor file is");
  }

  @Test
  void aParentThatIsTheImageItselfLoops() throws IOException {
    Files.write(dir.resolve("self-flat.vmdk"), new byte[1 << 20]);
    Path image = VmdkFixtures.text(dir.resolve("self.vmdk"), VmdkFixtures.esxiDescriptor("monolithicFlat", "1",
        "1", "self.vmdk", "RW 2048 FLAT \"self-flat.vmdk\" 0"));
    assertRefused(image, CorruptImageException.class, "backing chain loops");
  }

  private void assertRefused(Path image, Class<? extends Exception> type, String message) {
    ThrowingCallable open = () -> DiskImages.open(image, VMDK).close();
    assertThatThrownBy(open).isInstanceOf(type).hasMessageContaining(message).hasMessageContaining(image.toString());
    if (Files.exists(image)) {
      // probed, it is refused the same way (or probes as raw when too damaged to look like a VMDK)
      try {
        DiskImages.open(image, OpenOptions.readOnlyDefaults()).close();
      } catch (Exception e) {
        assertThat(e).isInstanceOf(type).hasMessageContaining(message);
      }
    }
  }

  private void assertReadRefused(Path image, long offset, String message) throws IOException {
    try (DiskFile disk = DiskImages.open(image, VMDK)) {
      assertThatThrownBy(() -> disk.readFully(ByteBuffer.allocate(4096), offset))
          .isInstanceOf(CorruptImageException.class).hasMessageContaining(image.toString())
          .hasMessageContaining(message);
    }
  }

  private static void truncate(Path file, long size) throws IOException {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
      channel.truncate(size);
    }
  }

  private static void putLong(Path file, long offset, long value) throws IOException {
    write(file, offset, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, value));
  }

  private static void putInt(Path file, long offset, int value) throws IOException {
    write(file, offset, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, value));
  }

  private static int getInt(Path file, long offset) throws IOException {
    ByteBuffer bytes = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
    try (FileChannel channel = FileChannel.open(file)) {
      channel.read(bytes, offset);
    }
    return bytes.getInt(0);
  }

  private static void write(Path file, long offset, ByteBuffer bytes) throws IOException {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
      channel.write(bytes, offset);
    }
  }
}
