package io.qcow4j.bochs;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.internal.formats.FormatReads;
import io.qcow4j.internal.formats.Mapping;
import io.qcow4j.internal.formats.ReadOnlyImage;
import io.qcow4j.internal.storage.HostFiles;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * A Bochs growing redolog read as QEMU 7.2's bochs driver reads it: the disk is cut into extents
 * mapped by the catalog; each allocated extent is a sector bitmap followed by its sectors, and a
 * sector whose bit is clear (or whose extent the catalog leaves out) reads as zeros. Like QEMU's
 * driver, it reports no block status: the whole disk is data at no known offset.
 */
public final class BochsFile extends ReadOnlyImage {
  /** QEMU's limit on catalog entries (what bximage needs for its largest image, about 8 TB). */
  public static final long MAX_CATALOG_ENTRIES = 0x100000;
  /** QEMU's largest extent (8 MiB). */
  public static final long MAX_EXTENT_SIZE = 0x800000;
  /** A catalog entry of an extent that is not allocated. */
  private static final int UNALLOCATED = 0xffffffff;
  private static final int SECTOR = 512;
  /** The most sectors one mapping covers (one bitmap read of 512 bytes). */
  private static final long MAX_BITMAP_RUN = 4096;

  private final int[] catalog;
  private final long dataOffset;
  private final long extentSize;
  /** The bytes of one allocated extent in the file: its bitmap's sectors, then its data sectors. */
  private final long extentStride;
  private final long bitmapBytes;

  private BochsFile(Storage storage, Path path, long size, int[] catalog, long dataOffset, long extentSize,
      long bitmapBytes) {
    super(storage, path, size, null);
    this.catalog = catalog;
    this.dataOffset = dataOffset;
    this.extentSize = extentSize;
    this.bitmapBytes = bitmapBytes;
    this.extentStride = bitmapBytes + extentSize;
  }

  /**
   * Opens the Bochs image held by {@code storage} (named {@code path}), checked as bochs_open
   * checks it; the storage is the caller's to close if this fails. Bytes past the end of the file
   * read as zeros, as QEMU reads them.
   */
  public static BochsFile open(Storage storage, Path path) throws IOException {
    String name = storage.name();
    BochsHeader header = BochsHeader.decode(FormatReads.readOrZero(storage, 0, BochsHeader.SIZE));
    if (!header.isGrowingRedolog()) {
      throw new CorruptImageException(name + ": Image not in Bochs format");
    }
    long sectors = Long.divideUnsigned(header.diskSize(), SECTOR);
    long catalogEntries = header.catalogEntries();
    if (catalogEntries > MAX_CATALOG_ENTRIES) {
      throw new ImageLimitException(name + ": Catalog size is too large");
    }
    long extentSize = header.extentSize();
    if (extentSize < SECTOR) {
      throw new CorruptImageException(name + ": Extent size must be at least 512");
    }
    if (Long.bitCount(extentSize) != 1) {
      throw new CorruptImageException(name + ": Extent size " + extentSize + " is not a power of two");
    }
    if (extentSize > MAX_EXTENT_SIZE) {
      throw new CorruptImageException(name + ": Extent size " + extentSize + " is too large");
    }
    long sectorsPerExtent = extentSize / SECTOR;
    if (catalogEntries < (sectors + sectorsPerExtent - 1) / sectorsPerExtent) {
      throw new CorruptImageException(name + ": Catalog size is too small for this disk size");
    }
    int catalogBytes = FormatReads.tableBytes(storage, catalogEntries * 4, "Bochs catalog");
    ByteBuffer bytes = ByteBuffer.wrap(FormatReads.readOrZero(storage, header.headerSize(), catalogBytes))
        .order(ByteOrder.LITTLE_ENDIAN);
    int[] catalog = new int[(int) catalogEntries];
    for (int i = 0; i < catalog.length; i++) {
      catalog[i] = bytes.getInt(i * 4);
    }
    // QEMU keeps the data offset in 32 bits and the bitmap's sector count as 1 + (size - 1) / 512 in 32 bits
    long dataOffset = (header.headerSize() + catalogEntries * 4) & 0xffffffffL;
    long bitmapSectors = 1 + (((header.bitmapSize() - 1) & 0xffffffffL) / SECTOR);
    return new BochsFile(storage, path, sectors * SECTOR, catalog, dataOffset, extentSize, bitmapSectors * SECTOR);
  }

  @Override
  protected Mapping map(long guestOffset, long maxLength) throws IOException {
    long extentIndex = guestOffset / extentSize;
    long inExtent = guestOffset % extentSize;
    long inExtentLeft = Math.min(maxLength, extentSize - inExtent);
    int entry = catalog[(int) extentIndex];
    if (entry == UNALLOCATED) {
      return Mapping.zero(inExtentLeft);
    }
    long bitmapOffset = extentHost(extentIndex, entry);
    // the run of sectors sharing the first one's bitmap bit, within one bounded read of the bitmap
    long firstSector = inExtent / SECTOR;
    long lastSector = Math.min((inExtent + inExtentLeft - 1) / SECTOR, firstSector + MAX_BITMAP_RUN - 1);
    long firstByte = firstSector / 8;
    byte[] bits = FormatReads.readOrZero(storage, bitmapOffset + firstByte, (int) (lastSector / 8 - firstByte + 1));
    boolean allocated = bit(bits, firstSector - firstByte * 8);
    long sector = firstSector + 1;
    while (sector <= lastSector && bit(bits, sector - firstByte * 8) == allocated) {
      sector++;
    }
    long length = Math.min(inExtentLeft, sector * SECTOR - inExtent);
    return allocated ? new Mapping(length, Mapping.State.DATA, bitmapOffset + bitmapBytes + inExtent)
        : Mapping.zero(length);
  }

  private static boolean bit(byte[] bits, long index) {
    return ((bits[(int) (index / 8)] >> (index % 8)) & 1) != 0;
  }

  /** Where the extent of catalog {@code entry} starts (its bitmap); refused when it would end past 2^63. */
  private long extentHost(long extentIndex, int entry) throws CorruptImageException {
    long entryValue = Integer.toUnsignedLong(entry);
    long stride = entryValue * extentStride;
    if (Math.multiplyHigh(entryValue, extentStride) != 0 || stride < 0
        || stride > Long.MAX_VALUE - dataOffset - extentStride) {
      throw new CorruptImageException(name() + ": Bochs catalog entry " + extentIndex + " (" + entryValue
          + ") places its extent past the largest file offset");
    }
    return dataOffset + stride;
  }

  @Override
  protected boolean reportsBlockStatus() {
    return false;
  }

  /** QEMU's bochs driver answers no bdrv_get_info: qemu-img info prints no dirty flag for it. */
  @Override
  public boolean hasDriverInfo() {
    return false;
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.BOCHS;
  }

  @Override
  public ImageInfo info() throws IOException {
    return new ImageInfo(path, ImageFormat.BOCHS, size(), path == null ? -1 : HostFiles.allocatedBytes(path), null,
        null, null, null, 0, false);
  }
}
