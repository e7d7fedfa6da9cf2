package io.qcow4j.vhdx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.storage.MemoryStorage;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.function.Consumer;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile VHDX files, made by patching one qemu-img creates: every field read from the file is
 * refused with a named exception naming the file and the field or offset, before anything large
 * is allocated or walked; random damage never escapes as anything but an IOException.
 */
class VhdxHostileTest {
  private static final long MIB = 1 << 20;
  private static final long METADATA = 3 * MIB;
  private static final long BAT = 2 * MIB;
  @TempDir Path dir;
  private byte[] pristine;

  @BeforeEach
  void create() throws IOException {
    Path image = dir.resolve("pristine.vhdx");
    QemuTools.in(dir).img("create", "-q", "-f", "vhdx", "-o", "block_size=1M", image, "16M");
    QemuTools.in(dir).io("-f", "vhdx", "-c", "write -P 0x41 0 1M", "-c", "write -P 0x42 5M 4k", image);
    pristine = Files.readAllBytes(image);
    assertThat(VhdxLayout.fileOffset(le(pristine).getLong((int) BAT))).isGreaterThanOrEqualTo(4 * MIB);
  }

  private static ByteBuffer le(byte[] bytes) {
    return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
  }

  /** The image with {@code change} applied, written to a file of its own. */
  private Path patched(String name, Consumer<byte[]> change) throws IOException {
    byte[] bytes = pristine.clone();
    change.accept(bytes);
    Path image = dir.resolve(name + ".vhdx");
    Files.write(image, bytes);
    return image;
  }

  private static ThrowingCallable opening(Path image) {
    return () -> {
      try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults().withFormat(ImageFormat.VHDX))) {
        disk.readFully(ByteBuffer.allocate((int) disk.size()), 0);
      }
    };
  }

  /** Both headers rewritten through {@code change} (checksums recomputed). */
  private static void headers(byte[] bytes, java.util.function.UnaryOperator<VhdxHeader> change) {
    for (long offset : VhdxHeader.OFFSETS) {
      byte[] header = java.util.Arrays.copyOfRange(bytes, (int) offset, (int) offset + VhdxHeader.SIZE);
      System.arraycopy(change.apply(VhdxHeader.decode(header)).encode(), 0, bytes, (int) offset, VhdxHeader.SIZE);
    }
  }

  private static VhdxHeader with(VhdxHeader h, long logLength, long logOffset, int logVersion, int version) {
    return new VhdxHeader(h.signature(), h.sequenceNumber(), h.fileWriteGuid(), h.dataWriteGuid(), h.logGuid(),
        logVersion, version, logLength, logOffset, true);
  }

  /** The first region table (and its copy) rewritten through {@code change}. */
  private static void regions(byte[] bytes, java.util.function.UnaryOperator<List<RegionTable.Entry>> change)
      throws CorruptImageException {
    RegionTable table = RegionTable.decode(java.util.Arrays.copyOfRange(bytes, 192 << 10, 256 << 10), "x", 0);
    byte[] encoded = new RegionTable(change.apply(new ArrayList<>(table.entries()))).encode();
    System.arraycopy(encoded, 0, bytes, 192 << 10, RegionTable.SIZE);
    System.arraycopy(encoded, 0, bytes, 256 << 10, RegionTable.SIZE);
  }

  private static void metadata(byte[] bytes, java.util.function.UnaryOperator<List<MetadataTable.Entry>> change)
      throws CorruptImageException {
    MetadataTable table = MetadataTable.decode(
        java.util.Arrays.copyOfRange(bytes, (int) METADATA, (int) METADATA + MetadataTable.SIZE), "x", 0);
    byte[] encoded = new MetadataTable(change.apply(new ArrayList<>(table.entries()))).encode();
    System.arraycopy(encoded, 0, bytes, (int) METADATA, MetadataTable.SIZE);
  }

  /** Offset in the file of the metadata item {@code id}. */
  private long item(UUID id) throws CorruptImageException {
    MetadataTable table = MetadataTable.decode(
        java.util.Arrays.copyOfRange(pristine, (int) METADATA, (int) METADATA + MetadataTable.SIZE), "x", 0);
    return METADATA + table.entries().stream().filter(e -> e.itemId().equals(id)).findFirst().orElseThrow().offset();
  }

  private interface Patch {
    void apply(byte[] bytes) throws IOException;
  }

  private void refused(String name, Patch patch, Class<? extends Exception> type, String... fragments)
      throws IOException {
    Path image = patched(name, bytes -> {
      try {
        patch.apply(bytes);
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    });
    var thrown = assertThatThrownBy(opening(image)).as(name).isInstanceOf(type).hasMessageStartingWith(image + ": ");
    for (String fragment : fragments) {
      thrown.hasMessageContaining(fragment);
    }
  }

  @Test
  void fileIdentifierAndHeaders() throws IOException {
    refused("signature", bytes -> bytes[0] = 'X', CorruptImageException.class, "no 'vhdxfile' signature at offset 0");
    refused("checksums", bytes -> {
      bytes[(64 << 10) + 100] ^= 1;
      bytes[(128 << 10) + 100] ^= 1;
    }, CorruptImageException.class, "No valid VHDX header found", "wrong checksum");
    refused("version", bytes -> headers(bytes, h -> with(h, h.logLength(), h.logOffset(), 0, 2)),
        CorruptImageException.class, "No valid VHDX header found", "version 2");
    refused("same-sequence", bytes -> {
      byte[] first = java.util.Arrays.copyOfRange(bytes, 64 << 10, (64 << 10) + VhdxHeader.SIZE);
      VhdxHeader h = VhdxHeader.decode(first);
      System.arraycopy(new VhdxHeader(h.signature(), 9, h.fileWriteGuid(), h.dataWriteGuid(), h.logGuid(), 0, 1,
          h.logLength(), h.logOffset(), true).encode(), 0, bytes, 64 << 10, VhdxHeader.SIZE);
      System.arraycopy(new VhdxHeader(h.signature(), 9, UUID.randomUUID(), h.dataWriteGuid(), h.logGuid(), 0, 1,
          h.logLength(), h.logOffset(), true).encode(), 0, bytes, 128 << 10, VhdxHeader.SIZE);
    }, CorruptImageException.class, "differ with the same sequence_number 9");
    refused("log-offset", bytes -> headers(bytes, h -> with(h, h.logLength(), MIB + 4096, 0, 1)),
        CorruptImageException.class, "log_offset " + (MIB + 4096));
    refused("log-version", bytes -> headers(bytes, h -> with(h, h.logLength(), h.logOffset(), 1, 1)),
        CorruptImageException.class, "log_version 1");
    refused("log-over-bat", bytes -> headers(bytes, h -> with(h, 2 * MIB, h.logOffset(), 0, 1)),
        CorruptImageException.class, "overlaps the region at offset " + MIB);

    // only one good header: it is used
    Path one = patched("one-header", bytes -> bytes[(128 << 10) + 100] ^= 1);
    try (DiskFile disk = DiskImages.open(one, OpenOptions.readOnlyDefaults())) {
      assertThat(disk.size()).isEqualTo(16 * MIB);
    }
  }

  @Test
  void aLogThatWouldBeReadOverAndOverIsRefused() throws IOException {
    UUID logGuid = UUID.randomUUID();
    refused("log-budget", bytes -> {
      headers(bytes, h -> new VhdxHeader(h.signature(), h.sequenceNumber(), h.fileWriteGuid(), h.dataWriteGuid(),
          logGuid, 0, 1, h.logLength(), h.logOffset(), true));
      // every sector claims to start an entry as long as the log, none with a right checksum
      for (int sector = 0; sector < MIB / LogEntry.SECTOR; sector++) {
        ByteBuffer entry = le(bytes).position((int) (MIB + sector * LogEntry.SECTOR)).slice()
            .order(ByteOrder.LITTLE_ENDIAN);
        entry.putInt(0, LogEntry.SIGNATURE);
        entry.putInt(8, (int) MIB);
        entry.putLong(16, sector + 1);
        byte[] guid = new byte[16];
        VhdxGuid.write(guid, 0, logGuid);
        entry.put(32, guid);
      }
    }, ImageLimitException.class, "read more than 8 times over");
  }

  @Test
  void regionTable() throws IOException {
    Path firstDamaged = patched("first-damaged", bytes -> bytes[(192 << 10) + 40] ^= 1);
    try (DiskFile disk = DiskImages.open(firstDamaged, OpenOptions.readOnlyDefaults())) {
      assertThat(disk.size()).as("the copy at 256 KiB is used").isEqualTo(16 * MIB);
    }
    refused("both-damaged", bytes -> {
      bytes[(192 << 10) + 40] ^= 1;
      bytes[(256 << 10) + 40] ^= 1;
    }, CorruptImageException.class, "region table at offset " + (192 << 10) + " has a wrong checksum");
    refused("count", bytes -> {
      le(bytes).putInt((192 << 10) + 8, 3000);
      VhdxChecksum.fill(bytes, 192 << 10, RegionTable.SIZE, 4);
      le(bytes).putInt((256 << 10) + 8, 3000);
      VhdxChecksum.fill(bytes, 256 << 10, RegionTable.SIZE, 4);
    }, CorruptImageException.class, "entry count 3000");
    refused("no-metadata", bytes -> regions(bytes, entries -> entries.subList(0, 1)), CorruptImageException.class,
        "region table has no metadata region");
    refused("required", bytes -> regions(bytes, entries -> {
      entries.add(new RegionTable.Entry(UUID.randomUUID(), 100 * MIB, MIB, true));
      return entries;
    }), UnsupportedFeatureException.class, "required region");
    refused("overlap", bytes -> regions(bytes, entries -> {
      entries.set(1, new RegionTable.Entry(RegionTable.METADATA, BAT, MIB, true));
      return entries;
    }), CorruptImageException.class, "overlaps the region at offset " + BAT);
    refused("unaligned", bytes -> regions(bytes, entries -> {
      entries.set(0, new RegionTable.Entry(RegionTable.BAT, BAT + 512, MIB, true));
      return entries;
    }), CorruptImageException.class, "file_offset " + (BAT + 512));
    refused("twice", bytes -> regions(bytes, entries -> {
      entries.add(new RegionTable.Entry(RegionTable.BAT, 100 * MIB, MIB, true));
      return entries;
    }), CorruptImageException.class, "lists the BAT region twice");
  }

  @Test
  void metadata() throws IOException {
    refused("signature", bytes -> bytes[(int) METADATA] = 'X', CorruptImageException.class,
        "metadata table at offset " + METADATA + " has no 'metadata' signature");
    long parameters = item(MetadataTable.FILE_PARAMETERS);
    refused("block-size", bytes -> le(bytes).putInt((int) parameters, 3 << 20), CorruptImageException.class,
        "block_size " + (3 << 20));
    refused("logical", bytes -> le(bytes).putInt((int) item(MetadataTable.LOGICAL_SECTOR_SIZE), 1024),
        CorruptImageException.class, "logical_sector_size 1024");
    refused("physical", bytes -> le(bytes).putInt((int) item(MetadataTable.PHYSICAL_SECTOR_SIZE), 0),
        CorruptImageException.class, "physical_sector_size 0");
    refused("size", bytes -> le(bytes).putLong((int) item(MetadataTable.VIRTUAL_DISK_SIZE), 65L << 40),
        CorruptImageException.class, "virtual_disk_size " + (65L << 40));
    refused("unaligned-size", bytes -> le(bytes).putLong((int) item(MetadataTable.VIRTUAL_DISK_SIZE), 1000),
        CorruptImageException.class, "virtual_disk_size 1000");
    refused("bat-too-small", bytes -> le(bytes).putLong((int) item(MetadataTable.VIRTUAL_DISK_SIZE), 1L << 40),
        CorruptImageException.class, "is too small for the 1048831 entries");
    refused("item-outside", bytes -> metadata(bytes, entries -> {
      MetadataTable.Entry e = entries.get(1);
      entries.set(1, new MetadataTable.Entry(e.itemId(), MIB - 4, 8, e.user(), e.virtualDisk(), e.required()));
      return entries;
    }), CorruptImageException.class, "virtual disk size item of 8 bytes at " + (MIB - 4));
    refused("item-in-table", bytes -> metadata(bytes, entries -> {
      MetadataTable.Entry e = entries.get(0);
      entries.set(0, new MetadataTable.Entry(e.itemId(), 0, 8, e.user(), e.virtualDisk(), e.required()));
      return entries;
    }), CorruptImageException.class, "file parameters item of 8 bytes at 0");
    refused("missing", bytes -> metadata(bytes, entries -> entries.subList(0, 4)), CorruptImageException.class,
        "has no physical sector size item");
    refused("twice", bytes -> metadata(bytes, entries -> {
      entries.add(entries.get(0));
      return entries;
    }), CorruptImageException.class, "twice");
    refused("required", bytes -> metadata(bytes, entries -> {
      entries.add(new MetadataTable.Entry(UUID.randomUUID(), 128 << 10, 8, false, false, true));
      return entries;
    }), UnsupportedFeatureException.class, "required item");
    refused("no-locator", bytes -> le(bytes).putInt((int) parameters + 4, 2), CorruptImageException.class,
        "has_parent is set but there is no parent locator");
  }

  @Test
  void bat() throws IOException {
    long block0 = le(pristine).getLong((int) BAT);
    long fileSize = pristine.length;
    refused("past-end", bytes -> le(bytes).putLong((int) BAT + 8, (fileSize + MIB) | 6), CorruptImageException.class,
        "BAT entry 1 (at offset " + (BAT + 8) + ")", "points after end of file");
    refused("header-section", bytes -> le(bytes).putLong((int) BAT + 8, 6), CorruptImageException.class,
        "BAT entry 1", "inside the header section");
    refused("over-metadata", bytes -> le(bytes).putLong((int) BAT + 8, METADATA | 6), CorruptImageException.class,
        "BAT entry 1", "overlaps the region at offset " + METADATA);
    refused("reserved-state", bytes -> le(bytes).putLong((int) BAT + 8, 4), CorruptImageException.class,
        "BAT entry 1 (payload block 1): state 4 is reserved");
    refused("partial-in-dynamic", bytes -> le(bytes).putLong((int) BAT, VhdxLayout.fileOffset(block0) | 7),
        CorruptImageException.class, "BAT entry 0 (payload block 0): state 7 is only valid in a differencing disk");
  }

  @Test
  void randomDamageIsAlwaysAnIOException() throws IOException {
    long seed = new Random().nextLong();
    Random random = new Random(seed);
    // the structures: headers, region tables, the BAT and the metadata
    long[][] areas = {{0, 8}, {64 << 10, 80}, {128 << 10, 80}, {192 << 10, 96}, {256 << 10, 96},
        {BAT, 128}, {METADATA, 256}, {METADATA + (64 << 10), 48}};
    for (int round = 0; round < 300; round++) {
      byte[] bytes = pristine.clone();
      int changes = 1 + random.nextInt(4);
      for (int i = 0; i < changes; i++) {
        long[] area = areas[random.nextInt(areas.length)];
        int at = (int) (area[0] + random.nextInt((int) area[1]));
        bytes[at] = (byte) random.nextInt(256);
      }
      if (random.nextBoolean()) {
        // keep the checksums right, so that the fields behind them are reached
        for (long offset : VhdxHeader.OFFSETS) {
          VhdxChecksum.fill(bytes, (int) offset, VhdxHeader.SIZE, 4);
        }
        for (long offset : RegionTable.OFFSETS) {
          VhdxChecksum.fill(bytes, (int) offset, RegionTable.SIZE, 4);
        }
      }
      try (DiskFile disk = VhdxFile.open(new MemoryStorage("round-" + round, bytes, true), null, null)) {
        ByteBuffer buffer = ByteBuffer.allocate(1 << 20);
        for (long offset = 0; offset < Math.min(disk.size(), 64 * MIB); offset += 1 << 20) {
          buffer.clear().limit((int) Math.min(buffer.capacity(), disk.size() - offset));
          disk.readFully(buffer, offset);
          disk.blockStatus(offset, disk.size() - offset);
        }
        disk.info();
      } catch (IOException expected) {
        assertThat(expected.getMessage()).as("seed %d", seed).startsWith("round-" + round + ": ");
      }
    }
  }
}
