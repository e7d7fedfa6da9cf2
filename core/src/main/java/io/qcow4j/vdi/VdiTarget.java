package io.qcow4j.vdi;

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
import java.util.UUID;

/**
 * A new VDI image, laid out as QEMU 7.2's vdi driver makes and fills one (vdi_co_do_create,
 * vdi_co_pwritev): the 512-byte header, the block map at 512, then 1 MiB blocks after it, in the
 * order they are first written (dynamic), or all of them in order from the start (static). A
 * block's unwritten bytes are holes where QEMU writes zeros; they read the same.
 */
public final class VdiTarget extends BlockImageWriter {
  private static final int SECTOR = 512;
  private static final long BLOCK_MAP_OFFSET = 0x200;
  private static final String TEXT = "<<< QEMU VM Virtual Disk Image >>>\n";

  private final boolean isStatic;
  private final long dataOffset;
  private final int[] blockMap;
  private final UUID image = UUID.randomUUID();
  private final UUID lastSnapshot = UUID.randomUUID();
  private int allocated;

  private VdiTarget(Storage storage, Path path, long size, boolean isStatic) {
    super(storage, path, size, VdiHeader.BLOCK_SIZE);
    this.isStatic = isStatic;
    int blocks = blockCount();
    this.blockMap = new int[blocks];
    this.dataOffset = BLOCK_MAP_OFFSET + mapBytes(blocks);
    for (int i = 0; i < blocks; i++) {
      blockMap[i] = isStatic ? i : -1;
    }
    this.allocated = isStatic ? blocks : 0;
  }

  private static long mapBytes(int blocks) {
    return (blocks * 4L + SECTOR - 1) & ~(SECTOR - 1L);
  }

  /** Creates the VDI image {@code options} describe at {@code path} (replacing any file), ready to be written. */
  public static DiskFile create(Path path, CreateOptions options) throws IOException {
    if (options.backingFile() != null) {
      throw new UnsupportedFeatureException(path + ": VDI images take no backing file");
    }
    long blocks = (options.size() + VdiHeader.BLOCK_SIZE - 1) / VdiHeader.BLOCK_SIZE;
    FormatReads.tableBytes(path.toString(), blocks * 4, "block map");
    FileStorage storage = FileStorage.create(path, true);
    try {
      // qemu-img makes the size whole sectors
      VdiTarget target = new VdiTarget(storage, path, (options.size() + SECTOR - 1) & -SECTOR, options.vdiStatic());
      if (target.isStatic) {
        storage.truncate(target.dataOffset + (long) target.blockCount() * VdiHeader.BLOCK_SIZE);
      }
      target.flush();
      return target;
    } catch (IOException | RuntimeException e) {
      storage.close();
      throw e;
    }
  }

  @Override
  protected long hostOffsetOf(int blockIndex) {
    int entry = blockMap[blockIndex];
    return entry < 0 ? -1 : dataOffset + (long) entry * VdiHeader.BLOCK_SIZE;
  }

  @Override
  protected long allocateBlock(int blockIndex) throws IOException {
    int entry = allocated++;
    blockMap[blockIndex] = entry;
    long host = dataOffset + (long) entry * VdiHeader.BLOCK_SIZE;
    // QEMU writes whole blocks: the file ends at the last allocated block's end
    storage.truncate(Math.max(storage.size(), host + VdiHeader.BLOCK_SIZE));
    return host;
  }

  @Override
  protected void writeMetadata() throws IOException {
    storage.write(ByteBuffer.wrap(header()), 0);
    ByteBuffer map = ByteBuffer.allocate((int) mapBytes(blockMap.length)).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < blockMap.length; i++) {
      map.putInt(i * 4, blockMap[i]);
    }
    storage.write(map, BLOCK_MAP_OFFSET);
  }

  /** The header as vdi_co_do_create writes it, with the blocks allocated so far. */
  private byte[] header() {
    ByteBuffer header = ByteBuffer.allocate(VdiHeader.SIZE).order(ByteOrder.LITTLE_ENDIAN);
    header.put(0, TEXT.getBytes(StandardCharsets.US_ASCII));
    header.putInt(0x40, (int) VdiHeader.SIGNATURE);
    header.putInt(0x44, (int) VdiHeader.VERSION_1_1);
    header.putInt(0x48, 0x180);
    header.putInt(0x4c, (int) (isStatic ? VdiHeader.TYPE_STATIC : VdiHeader.TYPE_DYNAMIC));
    header.putInt(0x154, (int) BLOCK_MAP_OFFSET);
    header.putInt(0x158, (int) dataOffset);
    header.putInt(0x168, SECTOR);
    header.putLong(0x170, size());
    header.putInt(0x178, (int) VdiHeader.BLOCK_SIZE);
    header.putInt(0x180, blockMap.length);
    header.putInt(0x184, allocated);
    putUuid(header, 0x188, image);
    putUuid(header, 0x198, lastSnapshot);
    return header.array();
  }

  /** A UUID as QEMU's QemuUUID stores it: its 16 bytes in the big-endian order of their text. */
  private static void putUuid(ByteBuffer header, int offset, UUID uuid) {
    ByteBuffer big = header.duplicate().order(ByteOrder.BIG_ENDIAN);
    big.putLong(offset, uuid.getMostSignificantBits());
    big.putLong(offset + 8, uuid.getLeastSignificantBits());
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.VDI;
  }
}
