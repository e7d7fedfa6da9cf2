package io.qcow4j.vhdx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * VHDX files qemu-img cannot make, built from images it makes as MS-VHDX describes them: a file
 * with an active log (section 2.3: entries of data and zero descriptors, a sequence found through
 * the head's tail, replayed before the file is read) and a differencing disk (section 2.6.2.1
 * HasParent, 2.6.2.6 the parent locator, 2.5.1 the payload states, 2.5 the sector bitmap block).
 */
class VhdxFixtureTest {
  private static final int MIB = 1 << 20;
  @TempDir Path dir;

  private VhdxLayout layout(Path image) throws IOException {
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults().withFormat(ImageFormat.VHDX))) {
      return ((VhdxFile) disk).layout();
    }
  }

  private static byte[] read(Path file, long offset, int length) throws IOException {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer buffer = ByteBuffer.allocate(length);
      channel.read(buffer, offset);
      return buffer.array();
    }
  }

  private static void write(Path file, long offset, byte[] bytes) throws IOException {
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
      channel.write(ByteBuffer.wrap(bytes), offset);
    }
  }

  private static byte[] filled(int length, int value) {
    byte[] bytes = new byte[length];
    Arrays.fill(bytes, (byte) value);
    return bytes;
  }

  private static byte[] contents(Path image) throws IOException {
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults().withFormat(ImageFormat.VHDX))) {
      ByteBuffer contents = ByteBuffer.allocate((int) disk.size());
      disk.readFully(contents, 0);
      return contents.array();
    }
  }

  /** Both headers rewritten (section 2.2.2) with {@code logGuid} and higher sequence numbers. */
  private static void setLogGuid(Path image, VhdxHeader active, UUID logGuid) throws IOException {
    for (int i = 0; i < 2; i++) {
      VhdxHeader header = new VhdxHeader(VhdxHeader.SIGNATURE, active.sequenceNumber() + 1 + i,
          active.fileWriteGuid(), active.dataWriteGuid(), logGuid, 0, 1, active.logLength(), active.logOffset(), true);
      write(image, VhdxHeader.OFFSETS[i], header.encode());
    }
  }

  /**
   * qemu-img's 16 MiB image (1 MiB blocks, 1 MiB log, its first MiB written) with an active log
   * written into it: two entries that map new blocks and zero a range, a later damaged entry and an
   * older sequence that are not replayed. Returns the guest contents the replay gives.
   */
  private byte[] dirtyImage(Path image) throws IOException {
    QemuTools.in(dir).img("create", "-q", "-f", "vhdx", "-o", "block_size=1M,log_size=1M", image, "16M");
    QemuTools.in(dir).io("-f", "vhdx", "-c", "write -P 0x41 0 1M", image);
    VhdxLayout layout = layout(image);
    long batSector = layout.batOffset();
    byte[] original = read(image, batSector, LogEntry.SECTOR);
    long block0 = ByteBuffer.wrap(original).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    assertThat(VhdxLayout.state(block0)).isEqualTo(VhdxLayout.PAYLOAD_FULLY_PRESENT);

    // payload written in place before the log entries that map it (section 2.3)
    long end = Files.size(image);
    assertThat(end % MIB).isZero();
    write(image, end, filled(MIB, 0x99));
    write(image, end + MIB, filled(MIB, 0x98));
    long fileSize = end + 2L * MIB;

    ByteBuffer first = ByteBuffer.wrap(original.clone()).order(ByteOrder.LITTLE_ENDIAN);
    first.putLong(0, VhdxLayout.PAYLOAD_ZERO);
    first.putLong(3 * 8, end | VhdxLayout.PAYLOAD_FULLY_PRESENT);
    ByteBuffer second = ByteBuffer.wrap(original.clone()).order(ByteOrder.LITTLE_ENDIAN);
    second.putLong(3 * 8, end | VhdxLayout.PAYLOAD_FULLY_PRESENT);
    second.putLong(7 * 8, (end + MIB) | VhdxLayout.PAYLOAD_FULLY_PRESENT);
    ByteBuffer stale = ByteBuffer.wrap(original.clone()).order(ByteOrder.LITTLE_ENDIAN);
    stale.putLong(5 * 8, end | VhdxLayout.PAYLOAD_FULLY_PRESENT);

    UUID logGuid = UUID.randomUUID();
    byte[] entryA = LogEntry.encode(0x100, 0, logGuid, fileSize, fileSize,
        List.of(new LogEntry.Write(batSector, first.array(), 0)));
    byte[] entryB = LogEntry.encode(0x101, 0, logGuid, fileSize, fileSize,
        List.of(new LogEntry.Write(batSector, second.array(), 0), new LogEntry.Write(end + MIB, null, 8192)));
    // a later entry whose checksum is wrong, and an older complete sequence: neither is replayed
    byte[] entryC = LogEntry.encode(0x102, 0, logGuid, fileSize, fileSize,
        List.of(new LogEntry.Write(batSector, stale.array(), 0)));
    entryC[100] ^= 1;
    long olderAt = 512 * 1024;
    byte[] entryD = LogEntry.encode(0x50, olderAt, logGuid, fileSize, fileSize,
        List.of(new LogEntry.Write(batSector, stale.array(), 0)));
    long log = layout.header().logOffset();
    write(image, log, entryA);
    write(image, log + entryA.length, entryB);
    write(image, log + entryA.length + entryB.length, entryC);
    write(image, log + olderAt, entryD);
    setLogGuid(image, layout.header(), logGuid);

    byte[] expected = new byte[16 * MIB];
    Arrays.fill(expected, 0, MIB, (byte) 0x41);
    Arrays.fill(expected, 3 * MIB, 4 * MIB, (byte) 0x99);
    Arrays.fill(expected, 7 * MIB + 8192, 8 * MIB, (byte) 0x98);
    return expected;
  }

  @Test
  void anActiveLogIsReplayedInMemoryAsQemuReplaysItIntoTheFile() throws IOException {
    Path image = dir.resolve("dirty.vhdx");
    byte[] expected = dirtyImage(image);
    byte[] before = Files.readAllBytes(image);
    assertThat(Arrays.mismatch(contents(image), expected)).as("first differing byte").isEqualTo(-1);
    assertThat(layout(image).logReplayed()).isTrue();
    assertThat(Files.readAllBytes(image)).as("the file is left as it was").isEqualTo(before);

    // QEMU refuses the read-only open and replays the log into the file on a repair
    QemuTools.Result info = QemuTools.in(dir).run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "info", image);
    assertThat(info.stderr()).contains("contains a log that needs to be replayed");
    Path replayed = dir.resolve("replayed.vhdx");
    Files.copy(image, replayed, StandardCopyOption.REPLACE_EXISTING);
    QemuTools.in(dir).run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "check", "-r", "all", replayed);
    Path raw = dir.resolve("replayed.raw");
    QemuTools.in(dir).img("convert", "-f", "vhdx", "-O", "raw", replayed, raw);
    assertThat(Arrays.mismatch(Files.readAllBytes(raw), expected)).as("first differing byte").isEqualTo(-1);
    assertThat(layout(replayed).logReplayed()).isFalse();
  }

  /**
   * qemu-img check -r through {@link DiskImages#repair}: the log written into the file as QEMU's
   * read-write open writes it (every byte but the two headers the same as qemu-img's replay; the
   * headers with QEMU's sequence numbers, one session FileWriteGuid and an empty log), one
   * corruption fixed; a second repair finds nothing to do and changes nothing.
   */
  @Test
  void aRepairReplaysTheLogIntoTheFileAsQemuDoes() throws IOException {
    Path image = dir.resolve("dirty.vhdx");
    byte[] expected = dirtyImage(image);
    Path theirs = dir.resolve("theirs.vhdx");
    Files.copy(image, theirs, StandardCopyOption.REPLACE_EXISTING);
    QemuTools.in(dir).run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "check", "-r", "all", theirs);
    VhdxHeader before = layout(image).header();

    CheckResult result = DiskImages.repair(ImageSpec.ofFilename(image.toString(), ImageFormat.VHDX),
        OpenOptions.readOnlyDefaults(), CheckResult.Repair.ALL).orElseThrow();
    assertThat(result.corruptionsFixed()).isEqualTo(1);
    assertThat(result.exitStatus()).isZero();
    assertThat(layout(image).logReplayed()).isFalse();
    assertThat(contents(image)).isEqualTo(expected);

    byte[] ours = Files.readAllBytes(image);
    byte[] qemus = Files.readAllBytes(theirs);
    assertThat(ours.length).isEqualTo(qemus.length);
    for (long headerOffset : VhdxHeader.OFFSETS) {
      VhdxHeader mine = VhdxHeader.decode(Arrays.copyOfRange(ours, (int) headerOffset, (int) headerOffset
          + VhdxHeader.SIZE));
      VhdxHeader qemu = VhdxHeader.decode(Arrays.copyOfRange(qemus, (int) headerOffset, (int) headerOffset
          + VhdxHeader.SIZE));
      assertThat(mine.usable()).isTrue();
      assertThat(mine.sequenceNumber()).isEqualTo(qemu.sequenceNumber());
      assertThat(mine.logGuid()).isEqualTo(VhdxGuid.ZERO).isEqualTo(qemu.logGuid());
      assertThat(mine.fileWriteGuid()).isNotEqualTo(before.fileWriteGuid());
      assertThat(mine.dataWriteGuid()).isNotEqualTo(before.dataWriteGuid());
      Arrays.fill(ours, (int) headerOffset, (int) headerOffset + VhdxHeader.SIZE, (byte) 0);
      Arrays.fill(qemus, (int) headerOffset, (int) headerOffset + VhdxHeader.SIZE, (byte) 0);
    }
    assertThat(Arrays.mismatch(ours, qemus)).as("first differing byte past the headers").isEqualTo(-1);

    byte[] repaired = Files.readAllBytes(image);
    CheckResult again = DiskImages.repair(ImageSpec.ofFilename(image.toString(), ImageFormat.VHDX),
        OpenOptions.readOnlyDefaults(), CheckResult.Repair.LEAKS).orElseThrow();
    assertThat(again.corruptionsFixed()).isZero();
    assertThat(Files.readAllBytes(image)).isEqualTo(repaired);
  }

  @Test
  void aTruncatedFileWithAnActiveLogIsRefused() throws IOException {
    Path image = dir.resolve("truncated.vhdx");
    QemuTools.in(dir).img("create", "-q", "-f", "vhdx", "-o", "block_size=1M", image, "16M");
    VhdxLayout layout = layout(image);
    UUID logGuid = UUID.randomUUID();
    long size = Files.size(image);
    write(image, layout.header().logOffset(), LogEntry.encode(7, 0, logGuid, size + MIB, size + MIB,
        List.of(new LogEntry.Write(size, null, 4096))));
    setLogGuid(image, layout.header(), logGuid);
    assertThatThrownBy(() -> contents(image))
        .isInstanceOf(CorruptImageException.class)
        .hasMessageContaining("flushed_file_offset " + (size + MIB))
        .hasMessageContaining("truncated");
  }

  /** A differencing child of {@code parent} (both made by qemu-img with 1 MiB blocks); its layout. */
  private VhdxLayout makeDifferencing(Path child, Map<String, String> locatorEntries) throws IOException {
    VhdxLayout layout = layout(child);
    long metadata = layout.metadataOffset();
    // section 2.6.2.1: HasParent
    ByteBuffer parameters = ByteBuffer.wrap(read(child, metadata + MetadataTable.SIZE, 8))
        .order(ByteOrder.LITTLE_ENDIAN);
    parameters.putInt(4, parameters.getInt(4) | 2);
    write(child, metadata + MetadataTable.SIZE, parameters.array());
    // section 2.6.2.6: the parent locator, a sixth item after the five qemu-img writes
    byte[] locator = new ParentLocator(ParentLocator.VHDX_PARENT, locatorEntries).encode();
    long itemOffset = MetadataTable.SIZE + 64;
    MetadataTable table = MetadataTable.decode(read(child, metadata, MetadataTable.SIZE), "child", metadata);
    List<MetadataTable.Entry> entries = new java.util.ArrayList<>(table.entries());
    entries.add(new MetadataTable.Entry(MetadataTable.PARENT_LOCATOR, itemOffset, locator.length, false, false,
        true));
    write(child, metadata, new MetadataTable(entries).encode());
    write(child, metadata + itemOffset, locator);
    return layout;
  }

  @Test
  void aDifferencingDiskReadsThroughItsSectorBitmapFromItsParent() throws IOException {
    Path parent = dir.resolve("parent.vhdx");
    QemuTools.in(dir).img("create", "-q", "-f", "vhdx", "-o", "block_size=1M", parent, "16M");
    QemuTools.in(dir).io("-f", "vhdx", "-c", "write -P 0x50 0 16M", parent);
    UUID parentData = layout(parent).header().dataWriteGuid();
    Path child = dir.resolve("child.vhdx");
    QemuTools.in(dir).img("create", "-q", "-f", "vhdx", "-o", "block_size=1M", child, "16M");
    QemuTools.in(dir).io("-f", "vhdx", "-c", "write -P 0x61 0 1M", "-c", "write -P 0x62 2M 1M", child);

    Map<String, String> locator = new LinkedHashMap<>();
    locator.put("parent_linkage", "{" + parentData + "}");
    locator.put("absolute_win32_path", "C:\\nowhere\\parent.vhdx");
    locator.put("relative_path", ".\\parent.vhdx");
    VhdxLayout layout = makeDifferencing(child, locator);

    // section 2.5: a differencing BAT has a sector bitmap entry after every chunk (4096 blocks here)
    long chunkRatio = 8L * MIB * 512 / MIB;
    assertThat(layout.batLength()).isGreaterThanOrEqualTo((chunkRatio + 1) * 8);
    long bitmapBlock = Files.size(child);
    byte[] bitmap = new byte[MIB];
    // block 2 starts at sector 4096: its first eight sectors, and sectors 5000..5099, are the child's
    for (int sector = 4096; sector < 4104; sector++) {
      bitmap[sector / 8] |= (byte) (1 << (sector % 8));
    }
    for (int sector = 5000; sector < 5100; sector++) {
      bitmap[sector / 8] |= (byte) (1 << (sector % 8));
    }
    write(child, bitmapBlock, bitmap);
    ByteBuffer bat = ByteBuffer.wrap(read(child, layout.batOffset(), 8 * 16)).order(ByteOrder.LITTLE_ENDIAN);
    long block2 = bat.getLong(2 * 8);
    // qemu-img made the unwritten blocks ZERO (block_state_zero); in a child they are NOT_PRESENT
    for (int block = 0; block < 16; block++) {
      if (block != 0 && block != 2) {
        bat.putLong(block * 8, VhdxLayout.PAYLOAD_NOT_PRESENT);
      }
    }
    bat.putLong(2 * 8, VhdxLayout.fileOffset(block2) | VhdxLayout.PAYLOAD_PARTIALLY_PRESENT);
    bat.putLong(4 * 8, VhdxLayout.PAYLOAD_ZERO);
    write(child, layout.batOffset(), bat.array());
    ByteBuffer bitmapEntry = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)
        .putLong(0, bitmapBlock | VhdxLayout.SB_BLOCK_PRESENT);
    write(child, layout.batOffset() + chunkRatio * 8, bitmapEntry.array());

    byte[] expected = filled(16 * MIB, 0x50);
    Arrays.fill(expected, 0, MIB, (byte) 0x61);
    Arrays.fill(expected, 2 * MIB, 2 * MIB + 4096, (byte) 0x62);
    Arrays.fill(expected, 5000 * 512, 5100 * 512, (byte) 0x62);
    Arrays.fill(expected, 4 * MIB, 5 * MIB, (byte) 0);
    try (DiskFile disk = DiskImages.open(child, OpenOptions.readOnlyDefaults())) {
      assertThat(disk.format()).isEqualTo(ImageFormat.VHDX);
      assertThat(disk.backing()).get().extracting(DiskFile::files).asList().containsExactly(parent);
      assertThat(disk.info().backingFile()).isEqualTo("parent.vhdx");
      ByteBuffer contents = ByteBuffer.allocate(16 * MIB);
      disk.readFully(contents, 0);
      assertThat(Arrays.mismatch(contents.array(), expected)).as("first differing byte").isEqualTo(-1);
      // as QEMU's vhdx driver, no block status: all of it is data of this layer at no known offset
      io.qcow4j.disk.Extent status = disk.blockStatus(0, 16 * MIB);
      assertThat(status.length()).isEqualTo(16 * MIB);
      assertThat(status.depth()).isZero();
      assertThat(status.data()).isTrue();
      assertThat(status.zero()).isFalse();
      assertThat(status.hostOffset()).isEqualTo(-1);
    }

    // a qcow2 overlay reads the whole chain
    Path top = dir.resolve("top.qcow2");
    QemuTools.in(dir).img("create", "-q", "-f", "qcow2", "-b", child, "-F", "vhdx", "-u", top, "16M");
    try (DiskFile disk = DiskImages.open(top, OpenOptions.readOnlyDefaults())) {
      ByteBuffer contents = ByteBuffer.allocate(16 * MIB);
      disk.readFully(contents, 0);
      assertThat(Arrays.mismatch(contents.array(), expected)).as("first differing byte").isEqualTo(-1);
    }
  }

  @Test
  void aParentWhoseDataChangedOrThatIsMissingIsRefused() throws IOException {
    Path parent = dir.resolve("parent.vhdx");
    QemuTools.in(dir).img("create", "-q", "-f", "vhdx", "-o", "block_size=1M", parent, "16M");
    Path child = dir.resolve("child.vhdx");
    QemuTools.in(dir).img("create", "-q", "-f", "vhdx", "-o", "block_size=1M", child, "16M");
    UUID other = UUID.randomUUID();
    makeDifferencing(child, Map.of("parent_linkage", "{" + other + "}", "relative_path", "parent.vhdx"));
    assertThatThrownBy(() -> contents(child))
        .isInstanceOf(CorruptImageException.class)
        .hasMessageContaining("parent_linkage {" + other + "}");
    Files.delete(parent);
    assertThatThrownBy(() -> contents(child))
        .isInstanceOf(NoSuchFileException.class)
        .hasMessageContaining("parent.vhdx");
  }

  @Test
  void fourKibLogicalSectorsAreRead() throws IOException {
    // section 2.6.2.4: a logical sector size of 4096 (QEMU makes and reads only 512)
    Path image = dir.resolve("4k.vhdx");
    QemuTools.in(dir).img("create", "-q", "-f", "vhdx", "-o", "block_size=1M", image, "16M");
    QemuTools.in(dir).io("-f", "vhdx", "-c", "write -P 0x44 4k 8k", "-c", "write -P 0x45 3M 1M", image);
    Path raw = dir.resolve("4k.raw");
    QemuTools.in(dir).img("convert", "-f", "vhdx", "-O", "raw", image, raw);
    VhdxLayout before = layout(image);
    MetadataTable table = MetadataTable.decode(read(image, before.metadataOffset(), MetadataTable.SIZE), "4k",
        before.metadataOffset());
    long item = table.entries().stream().filter(e -> e.itemId().equals(MetadataTable.LOGICAL_SECTOR_SIZE))
        .findFirst().orElseThrow().offset();
    write(image, before.metadataOffset() + item, new byte[] {0, 0x10, 0, 0});
    VhdxLayout after = layout(image);
    assertThat(after.logicalSectorSize()).isEqualTo(4096);
    assertThat(after.chunkRatio()).isEqualTo(32768);
    assertThat(Arrays.mismatch(contents(image), Files.readAllBytes(raw))).isEqualTo(-1);
  }
}
