package io.qcow4j.vpc;

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
import java.time.Instant;
import java.util.Arrays;
import java.util.UUID;

/**
 * A new dynamic VHD, laid out as QEMU 7.2's vpc driver makes and fills one (create_dynamic_disk,
 * alloc_block): the footer copy, the dynamic disk header and the BAT, then 2 MiB blocks, each
 * behind its 512-byte sector bitmap (all sectors marked present), in the order they are first
 * written, and the footer after the last block.
 */
public final class DynamicVhdTarget extends BlockImageWriter {
  /** QEMU's block size for a new dynamic VHD. */
  static final int BLOCK_SIZE = 2 << 20;
  private static final int SECTOR = 512;
  private static final int BITMAP_BYTES = BLOCK_SIZE / SECTOR / 8;
  private static final long TABLE_OFFSET = 3 * SECTOR;

  private final byte[] footer;
  private final int[] bat;
  /** Where the next block goes, and where the footer is. */
  private long freeOffset;

  private DynamicVhdTarget(Storage storage, Path path, long virtualSize, byte[] footer, int entries) {
    super(storage, path, virtualSize, BLOCK_SIZE);
    this.footer = footer;
    this.bat = new int[entries];
    Arrays.fill(bat, -1);
    this.freeOffset = TABLE_OFFSET + ((entries * 4L + SECTOR - 1) & ~(SECTOR - 1L));
  }

  /** Creates the dynamic VHD {@code options} describe at {@code path} (replacing any file), ready to be written. */
  public static DiskFile create(Path path, CreateOptions options) throws IOException {
    if (options.backingFile() != null) {
      throw new UnsupportedFeatureException(path + ": VHD images take no backing file");
    }
    long virtualSize = VhdCreator.virtualSize(options.size(), options.vpcForceSize());
    byte[] footer = VhdCreator.footer(virtualSize, options.vpcForceSize(), VhdFooter.DYNAMIC, Instant.now(),
        UUID.randomUUID());
    int entries = (int) ((virtualSize / SECTOR + BLOCK_SIZE / SECTOR - 1) / (BLOCK_SIZE / SECTOR));
    FormatReads.tableBytes(path.toString(), entries * 4L, "block allocation table");
    FileStorage storage = FileStorage.create(path, true);
    try {
      DynamicVhdTarget target = new DynamicVhdTarget(storage, path, virtualSize, footer, entries);
      storage.write(ByteBuffer.wrap(footer), 0);
      storage.write(ByteBuffer.wrap(dynamicHeader(entries)), SECTOR);
      target.flush();
      return target;
    } catch (IOException | RuntimeException e) {
      storage.close();
      throw e;
    }
  }

  /** The dynamic disk header (VHD specification, "Dynamic Disk Header Format") of a disk of {@code entries} blocks. */
  static byte[] dynamicHeader(int entries) {
    ByteBuffer header = ByteBuffer.allocate(VhdDynamicHeader.SIZE).order(ByteOrder.BIG_ENDIAN);
    header.put(0, "cxsparse".getBytes(StandardCharsets.US_ASCII));
    // QEMU writes all 64 bits set, which Microsoft's tools expect
    header.putLong(8, -1L);
    header.putLong(16, TABLE_OFFSET);
    header.putInt(24, 0x00010000);
    header.putInt(28, entries);
    header.putInt(32, BLOCK_SIZE);
    header.putInt(36, (int) VhdFooter.checksum(header.array(), 0, VhdDynamicHeader.SIZE, 36));
    return header.array();
  }

  @Override
  protected long hostOffsetOf(int blockIndex) {
    int entry = bat[blockIndex];
    return entry == -1 ? -1 : Integer.toUnsignedLong(entry) * SECTOR + BITMAP_BYTES;
  }

  @Override
  protected long allocateBlock(int blockIndex) throws IOException {
    long blockStart = freeOffset;
    byte[] bitmap = new byte[BITMAP_BYTES];
    Arrays.fill(bitmap, (byte) 0xff);
    storage.write(ByteBuffer.wrap(bitmap), blockStart);
    bat[blockIndex] = (int) (blockStart / SECTOR);
    freeOffset = blockStart + BITMAP_BYTES + BLOCK_SIZE;
    return blockStart + BITMAP_BYTES;
  }

  @Override
  protected void writeMetadata() throws IOException {
    ByteBuffer table = ByteBuffer.allocate((int) ((bat.length * 4L + SECTOR - 1) & ~(SECTOR - 1L)))
        .order(ByteOrder.BIG_ENDIAN);
    while (table.hasRemaining()) {
      table.putInt(-1);
    }
    for (int i = 0; i < bat.length; i++) {
      table.putInt(i * 4, bat[i]);
    }
    storage.write(table.clear(), TABLE_OFFSET);
    storage.write(ByteBuffer.wrap(footer), freeOffset);
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.VPC;
  }
}
