package io.qcow4j.vhdx;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.internal.formats.BlockImageWriter;
import io.qcow4j.internal.formats.FormatReads;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A new VHDX image, laid out as QEMU 7.2's vhdx_co_create lays one out: the file identifier, two
 * headers, two region tables, an empty log at 1 MiB, the BAT and the metadata region after it, and
 * the payload blocks from 5 MiB past the BAT on. A dynamic image allocates a block where QEMU does,
 * at the end of the file rounded up to 1 MiB, when it is first written; a fixed one has every block
 * in place from the start. The BAT is written directly at each flush and at close, not through the
 * log: the file is new and nothing else has it open, so a crash leaves no older state to protect.
 */
public final class VhdxTarget extends BlockImageWriter {
  private static final long MIB = VhdxLayout.MIB;

  private final VhdxLayout layout;
  private final long[] bat;
  /** Where the next block goes: the end of the file, rounded up to 1 MiB. */
  private long fileEnd;

  private VhdxTarget(Storage storage, Path path, VhdxLayout layout, long fileEnd) {
    super(storage, path, layout.virtualSize(), layout.blockSize());
    this.layout = layout;
    this.bat = new long[(int) layout.batEntries()];
    this.fileEnd = fileEnd;
  }

  /** The block size qemu-img picks for a disk of {@code size} bytes when none is given. */
  static long defaultBlockSize(long size) {
    if (size > 32L << 40) {
      return 64 * MIB;
    }
    if (size > 100L << 30) {
      return 32 * MIB;
    }
    return size > 1L << 30 ? 16 * MIB : 8 * MIB;
  }

  /** Creates the VHDX image {@code options} describe at {@code path} (replacing any file), ready to be written. */
  public static DiskFile create(Path path, CreateOptions options) throws IOException {
    if (options.backingFile() != null) {
      throw new UnsupportedFeatureException(path + ": qcow4j makes no differencing VHDX images");
    }
    long size = options.size();
    long blockSize = options.vhdxBlockSize() == 0 ? defaultBlockSize(size) : options.vhdxBlockSize();
    long logSize = options.vhdxLogSize();
    UUID zero = VhdxGuid.ZERO;
    long sequence = ThreadLocalRandom.current().nextInt() & 0xffffffffL;
    VhdxHeader header = new VhdxHeader(VhdxHeader.SIGNATURE, sequence, UUID.randomUUID(), UUID.randomUUID(), zero,
        0, 1, logSize, MIB, true);
    VhdxLayout sizing = new VhdxLayout(header, 0, 0, 0, MIB, blockSize, options.vhdxFixed(), false, size, 512, 512,
        UUID.randomUUID(), null, null, false);
    long batBytes = sizing.batEntries() * 8;
    FormatReads.tableBytes(path.toString(), batBytes, "BAT");
    long batOffset = roundUp(MIB + logSize);
    long batLength = roundUp(batBytes);
    long metadataOffset = roundUp(batOffset + batLength);
    VhdxLayout layout = new VhdxLayout(header, batOffset, batLength, metadataOffset, MIB, blockSize,
        options.vhdxFixed(), false, size, 512, 512, sizing.page83(), null, null, false);
    long dataOffset = batOffset + batLength + 5 * MIB;
    FileStorage storage = FileStorage.create(path, true);
    try {
      VhdxTarget target = new VhdxTarget(storage, path, layout, dataOffset);
      target.writeHeaderSection();
      if (options.vhdxFixed()) {
        target.fileEnd = dataOffset + size;
      }
      // as in vhdx_create_bat, block_state_zero wins over fixed: such a "fixed" image has zero
      // blocks over its data area and allocates written blocks at its end, as QEMU's does
      if (options.vhdxBlockStateZero()) {
        for (int block = 0; block < target.blockCount(); block++) {
          target.bat[(int) layout.payloadEntryIndex(block)] = VhdxLayout.PAYLOAD_ZERO;
        }
      } else if (options.vhdxFixed()) {
        for (int block = 0; block < target.blockCount(); block++) {
          long at = roundUp(dataOffset + block * blockSize);
          target.bat[(int) layout.payloadEntryIndex(block)] = at | VhdxLayout.PAYLOAD_FULLY_PRESENT;
        }
      }
      storage.truncate(target.fileEnd);
      target.flush();
      return target;
    } catch (IOException | RuntimeException e) {
      storage.close();
      throw e;
    }
  }

  private static long roundUp(long offset) {
    return (offset + MIB - 1) / MIB * MIB;
  }

  /** The file identifier, both headers, both region tables and the metadata region, as vhdx_co_create writes them. */
  private void writeHeaderSection() throws IOException {
    byte[] identifier = new byte[8 + 2 * 6];
    System.arraycopy("vhdxfile".getBytes(StandardCharsets.US_ASCII), 0, identifier, 0, 8);
    System.arraycopy("qcow4j".getBytes(StandardCharsets.UTF_16LE), 0, identifier, 8, 12);
    storage.write(ByteBuffer.wrap(identifier), 0);
    VhdxHeader first = layout.header();
    VhdxHeader second = new VhdxHeader(first.signature(), first.sequenceNumber() + 1, first.fileWriteGuid(),
        first.dataWriteGuid(), first.logGuid(), first.logVersion(), first.version(), first.logLength(),
        first.logOffset(), true);
    storage.write(ByteBuffer.wrap(first.encode()), VhdxHeader.OFFSETS[0]);
    storage.write(ByteBuffer.wrap(second.encode()), VhdxHeader.OFFSETS[1]);
    byte[] regions = new RegionTable(List.of(
        new RegionTable.Entry(RegionTable.BAT, layout.batOffset(), layout.batLength(), false),
        new RegionTable.Entry(RegionTable.METADATA, layout.metadataOffset(), layout.metadataLength(), false)))
        .encode();
    storage.write(ByteBuffer.wrap(regions), RegionTable.OFFSETS[0]);
    storage.write(ByteBuffer.wrap(regions), RegionTable.OFFSETS[1]);
    long items = MetadataTable.SIZE;
    byte[] table = new MetadataTable(List.of(
        new MetadataTable.Entry(MetadataTable.FILE_PARAMETERS, items, 8, false, false, true),
        new MetadataTable.Entry(MetadataTable.VIRTUAL_DISK_SIZE, items + 8, 8, false, true, true),
        new MetadataTable.Entry(MetadataTable.PAGE_83, items + 16, 16, false, true, true),
        new MetadataTable.Entry(MetadataTable.LOGICAL_SECTOR_SIZE, items + 32, 4, false, true, true),
        new MetadataTable.Entry(MetadataTable.PHYSICAL_SECTOR_SIZE, items + 36, 4, false, true, true))).encode();
    storage.write(ByteBuffer.wrap(table), layout.metadataOffset());
    byte[] values = new byte[40];
    ByteBuffer little = ByteBuffer.wrap(values).order(ByteOrder.LITTLE_ENDIAN);
    little.putInt(0, (int) layout.blockSize());
    little.putInt(4, layout.leaveBlocksAllocated() ? 1 : 0);
    little.putLong(8, layout.virtualSize());
    VhdxGuid.write(values, 16, layout.page83());
    little.putInt(32, layout.logicalSectorSize());
    little.putInt(36, layout.physicalSectorSize());
    storage.write(ByteBuffer.wrap(values), layout.metadataOffset() + items);
  }

  @Override
  protected long hostOffsetOf(int blockIndex) {
    long entry = bat[(int) layout.payloadEntryIndex(blockIndex)];
    return VhdxLayout.state(entry) == VhdxLayout.PAYLOAD_FULLY_PRESENT ? VhdxLayout.fileOffset(entry) : -1;
  }

  /** A new block at the end of the file rounded up to 1 MiB, the file grown by a block (vhdx_allocate_block). */
  @Override
  protected long allocateBlock(int blockIndex) throws IOException {
    long at = roundUp(fileEnd);
    fileEnd = at + layout.blockSize();
    storage.truncate(fileEnd);
    bat[(int) layout.payloadEntryIndex(blockIndex)] = at | VhdxLayout.PAYLOAD_FULLY_PRESENT;
    return at;
  }

  @Override
  protected void writeMetadata() throws IOException {
    ByteBuffer table = ByteBuffer.allocate(bat.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    for (long entry : bat) {
      table.putLong(entry);
    }
    storage.write(table.flip(), layout.batOffset());
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.VHDX;
  }
}
