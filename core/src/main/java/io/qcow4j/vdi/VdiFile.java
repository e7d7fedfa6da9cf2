package io.qcow4j.vdi;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.internal.formats.FormatReads;
import io.qcow4j.internal.formats.Mapping;
import io.qcow4j.internal.formats.ReadOnlyImage;
import io.qcow4j.internal.storage.HostFiles;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A VDI image read as QEMU 7.2's vdi driver reads it: 1 MiB blocks mapped by the block map,
 * unallocated (and discarded) blocks read as zeros; a static image's blocks are all allocated.
 */
public final class VdiFile extends ReadOnlyImage {
  /** Block map entries at or above this (0xfffffffe discarded, 0xffffffff unallocated) hold no block. */
  private static final long FIRST_FREE = 0xfffffffeL;
  private static final int SECTOR = 512;

  private final VdiHeader header;
  private final int[] blockMap;

  private VdiFile(Storage storage, Path path, long size, VdiHeader header, int[] blockMap) {
    super(storage, path, size, null);
    this.header = header;
    this.blockMap = blockMap;
  }

  /**
   * Opens the VDI image held by {@code storage} (named {@code path}), checked as vdi_open checks
   * it and within our limits; the storage is the caller's to close if this fails.
   */
  public static VdiFile open(Storage storage, Path path) throws IOException {
    String name = storage.name();
    VdiHeader header = VdiHeader.decode(FormatReads.readInside(storage, 0, VdiHeader.SIZE, "VDI header"));
    long diskSize = header.diskSize();
    if (Long.compareUnsigned(diskSize, VdiHeader.MAX_DISK_SIZE) > 0) {
      throw new UnsupportedFeatureException(name + ": Unsupported VDI image size (size is 0x"
          + Long.toHexString(diskSize) + ", max supported is 0x" + Long.toHexString(VdiHeader.MAX_DISK_SIZE) + ")");
    }
    // VBoxManage convertfromraw can make odd sizes; QEMU rounds them up to a sector
    diskSize = (diskSize + SECTOR - 1) / SECTOR * SECTOR;
    if (header.signature() != VdiHeader.SIGNATURE) {
      throw new CorruptImageException(name + ": Image not in VDI format (bad signature "
          + String.format("%08x", header.signature()) + ")");
    }
    if (header.version() != VdiHeader.VERSION_1_1) {
      throw unsupported(name, "version " + (header.version() >>> 16) + "." + (header.version() & 0xffff));
    }
    if (header.offsetBlockMap() % SECTOR != 0) {
      throw unsupported(name, "unaligned block map offset 0x" + Long.toHexString(header.offsetBlockMap()));
    }
    if (header.offsetData() % SECTOR != 0) {
      throw unsupported(name, "unaligned data offset 0x" + Long.toHexString(header.offsetData()));
    }
    if (header.sectorSize() != SECTOR) {
      throw unsupported(name, "sector size " + header.sectorSize() + " is not " + SECTOR);
    }
    if (header.blockSize() != VdiHeader.BLOCK_SIZE) {
      throw unsupported(name, "block size " + header.blockSize() + " is not " + VdiHeader.BLOCK_SIZE);
    }
    if (diskSize > header.blocksInImage() * header.blockSize()) {
      throw unsupported(name, "disk size " + diskSize + ", image bitmap has room for "
          + header.blocksInImage() * header.blockSize());
    }
    if (!header.linkUuidNull()) {
      throw unsupported(name, "non-NULL link UUID");
    }
    if (!header.parentUuidNull()) {
      throw unsupported(name, "non-NULL parent UUID");
    }
    if (header.blocksInImage() > VdiHeader.MAX_BLOCKS) {
      throw unsupported(name, "too many blocks " + header.blocksInImage() + ", max is " + VdiHeader.MAX_BLOCKS);
    }
    // only the entries that cover the disk are ever used; QEMU reads them all
    long usedBlocks = (diskSize + VdiHeader.BLOCK_SIZE - 1) / VdiHeader.BLOCK_SIZE;
    int mapBytes = FormatReads.tableBytes(storage, usedBlocks * 4, "VDI block map");
    ByteBuffer map = ByteBuffer.wrap(FormatReads.readInside(storage, header.offsetBlockMap(), mapBytes,
        "VDI block map")).order(ByteOrder.LITTLE_ENDIAN);
    int[] blockMap = new int[(int) usedBlocks];
    for (int i = 0; i < blockMap.length; i++) {
      blockMap[i] = map.getInt(i * 4);
    }
    return new VdiFile(storage, path, diskSize, header, blockMap);
  }

  private static UnsupportedFeatureException unsupported(String name, String what) {
    return new UnsupportedFeatureException(name + ": unsupported VDI image (" + what + ")");
  }

  @Override
  protected Mapping map(long guestOffset, long maxLength) {
    long blockSize = header.blockSize();
    int blockIndex = (int) (guestOffset / blockSize);
    long inBlock = guestOffset % blockSize;
    long length = Math.min(maxLength, blockSize - inBlock);
    long entry = Integer.toUnsignedLong(blockMap[blockIndex]);
    // one mapping for the run of blocks that follow alike: unallocated, or next to each other in the file
    int next = blockIndex + 1;
    long expected = entry >= FIRST_FREE ? -1 : entry + 1;
    while (length < maxLength && next < blockMap.length) {
      long following = Integer.toUnsignedLong(blockMap[next]);
      if (expected < 0 ? following < FIRST_FREE : following != expected) {
        break;
      }
      length = Math.min(maxLength, length + blockSize);
      next++;
      expected = expected < 0 ? -1 : expected + 1;
    }
    if (entry >= FIRST_FREE) {
      return Mapping.zero(length);
    }
    long host = header.offsetData() + entry * blockSize + inBlock;
    return new Mapping(length, header.imageType() == VdiHeader.TYPE_STATIC ? Mapping.State.DATA_RECURSE
        : Mapping.State.DATA, host);
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.VDI;
  }

  @Override
  public ImageInfo info() throws IOException {
    return new ImageInfo(path, ImageFormat.VDI, size(), path == null ? -1 : HostFiles.allocatedBytes(path), null, null,
        null, null, header.blockSize(), false);
  }

  /**
   * QEMU's vdi_co_check: every allocated block map entry must name a block inside the image, no
   * block may be named twice, and the header's count of allocated blocks must be right; each
   * problem is one corruption with QEMU's message. A repair is refused, as QEMU refuses it.
   */
  @Override
  public CheckResult check(CheckResult.Repair repair) throws IOException {
    if (repair != CheckResult.Repair.NONE) {
      throw new UnsupportedFeatureException(name() + ": Operation not supported");
    }
    List<String> messages = new ArrayList<>();
    long blocks = header.blocksInImage();
    long[] owner = new long[blockMap.length];
    Arrays.fill(owner, -1);
    long allocated = 0;
    for (int block = 0; block < blockMap.length; block++) {
      long entry = Integer.toUnsignedLong(blockMap[block]);
      if (entry >= FIRST_FREE) {
        continue;
      }
      if (entry < blocks && entry < owner.length) {
        allocated++;
        if (owner[(int) entry] < 0) {
          owner[(int) entry] = entry;
        } else {
          messages.add("ERROR: block index " + owner[(int) entry] + " also used by " + entry);
        }
      } else if (entry < blocks) {
        // a block past the disk (QEMU's map has an entry per block in the image; ours one per disk block)
        allocated++;
      } else {
        messages.add("ERROR: block index " + block + " too large, is " + entry);
      }
    }
    if (allocated != header.blocksAllocated()) {
      messages.add("ERROR: allocated blocks mismatch, is " + allocated + ", should be " + header.blocksAllocated());
    }
    return new CheckResult(name(), "vdi", 0, messages.size(), 0, 0, 0, 0, 0, 0, 0, 0, List.copyOf(messages));
  }
}
