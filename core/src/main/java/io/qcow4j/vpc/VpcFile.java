package io.qcow4j.vpc;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.internal.formats.BackingOpener;
import io.qcow4j.internal.formats.FormatReads;
import io.qcow4j.internal.formats.Mapping;
import io.qcow4j.internal.formats.ReadOnlyImage;
import io.qcow4j.internal.storage.HostFiles;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A VHD image read as QEMU 7.2's vpc driver reads it: a fixed disk is its file up to the footer; a
 * dynamic disk maps blocks through the BAT (unallocated blocks read as zeros); a differencing disk
 * also reads, sector by sector through each block's bitmap, what it does not hold from its parent.
 */
public final class VpcFile extends ReadOnlyImage {
  private static final long UNALLOCATED = 0xffffffffL;
  private static final int SECTOR = 512;

  private final VhdFooter footer;
  private final VhdDynamicHeader dynamic;
  /** The BAT entries covering the virtual disk (sector numbers of the blocks' bitmaps); null for a fixed disk. */
  private final int[] bat;
  private final boolean differencing;

  private VpcFile(Storage storage, Path path, long size, DiskFile parent, VhdFooter footer, VhdDynamicHeader dynamic,
      int[] bat) {
    super(storage, path, size, parent);
    this.footer = footer;
    this.dynamic = dynamic;
    this.bat = bat;
    this.differencing = footer.diskType() == VhdFooter.DIFFERENCING;
  }

  /**
   * Opens the VHD image held by {@code storage} (named {@code path}), checked as vpc_open checks it
   * and within our limits; a differencing disk's parent is opened through {@code backings}. The
   * storage is the caller's to close if this fails.
   */
  public static VpcFile open(Storage storage, Path path, BackingOpener backings) throws IOException {
    return open(storage, path, backings, VhdFooter.SizeCalc.AUTO);
  }

  /**
   * Opens the VHD image held by {@code storage} as {@link #open(Storage, Path, BackingOpener)} does,
   * its virtual size chosen as the force_size_calc open option {@code sizeCalc} chooses it.
   */
  public static VpcFile open(Storage storage, Path path, BackingOpener backings, VhdFooter.SizeCalc sizeCalc)
      throws IOException {
    String name = storage.name();
    byte[] footerBytes = FormatReads.readOrZero(storage, 0, VhdFooter.SIZE);
    boolean fixed = false;
    if (!VhdFooter.hasCookie(footerBytes)) {
      long fileSize = storage.size();
      // a file shorter than a footer has none at its end either (QEMU reads zeros there)
      footerBytes = FormatReads.readOrZero(storage, Math.max(0, fileSize - VhdFooter.SIZE), VhdFooter.SIZE);
      if (!VhdFooter.hasCookie(footerBytes) || VhdFooter.decode(footerBytes).diskType() != VhdFooter.FIXED) {
        throw new CorruptImageException(name + ": invalid VPC image");
      }
      fixed = true;
    }
    VhdFooter footer = VhdFooter.decode(footerBytes);
    if (!footer.checksumValid()) {
      throw new CorruptImageException(name + ": Incorrect header checksum");
    }
    long sectors = footer.virtualSectors(sizeCalc);
    if (sectors > VhdFooter.MAX_SECTORS) {
      throw new ImageLimitException(name + ": File too large (a virtual size of " + sectors
          + " sectors, over the VHD limit of " + VhdFooter.MAX_SECTORS + ")");
    }
    long size = sectors * SECTOR;
    if (fixed) {
      return new VpcFile(storage, path, size, null, footer, null, null);
    }
    return openDynamic(storage, path, footer, size, backings);
  }

  private static VpcFile openDynamic(Storage storage, Path path, VhdFooter footer, long size, BackingOpener backings)
      throws IOException {
    String name = storage.name();
    long fileSize = storage.size();
    if (footer.dataOffset() < 0) {
      throw new CorruptImageException(name + ": Error reading dynamic VHD header: header at offset "
          + Long.toUnsignedString(footer.dataOffset()) + " lies past the end of the file (" + fileSize + " bytes)");
    }
    // what lies past the end of the file reads as zeros, as QEMU's file driver reads it
    VhdDynamicHeader header = VhdDynamicHeader.decode(
        FormatReads.readOrZero(storage, footer.dataOffset(), VhdDynamicHeader.SIZE));
    if (!header.magicValid()) {
      throw new CorruptImageException(name + ": Invalid header magic");
    }
    long blockSize = header.blockSize();
    if (Long.bitCount(blockSize) != 1 || blockSize < SECTOR) {
      throw new CorruptImageException(name + ": Invalid block size " + blockSize);
    }
    if (size / blockSize > 0xffffffffL) {
      throw new CorruptImageException(name + ": Too many blocks");
    }
    long entries = header.maxTableEntries();
    if (entries * blockSize < size) {
      throw new CorruptImageException(name + ": Page table too small");
    }
    if (entries > Integer.MAX_VALUE / 4) {
      throw new CorruptImageException(name + ": Max Table Entries too large (" + (int) entries + ")");
    }
    FormatReads.tableBytes(storage, entries * 4, "block allocation table");
    int usedEntries = (int) Math.min(entries, (size + blockSize - 1) / blockSize);
    long tableOffset = header.tableOffset();
    ByteBuffer table = ByteBuffer.wrap(FormatReads.readInside(storage, tableOffset, (int) (entries * 4),
        "Error reading pagetable: block allocation table")).order(ByteOrder.BIG_ENDIAN);
    long freeOffset = (tableOffset + entries * 4 + 511) & ~511L;
    long blockSpan = header.bitmapBytes() + blockSize;
    int[] bat = new int[usedEntries];
    for (int i = 0; i < entries; i++) {
      long entry = Integer.toUnsignedLong(table.getInt(i * 4));
      if (i < usedEntries) {
        bat[i] = (int) entry;
      }
      if (entry != UNALLOCATED) {
        freeOffset = Math.max(freeOffset, entry * SECTOR + blockSpan);
      }
    }
    if (freeOffset > fileSize) {
      throw new CorruptImageException(name + ": block-vpc: free_data_block_offset points after the end of file."
          + " The image has been truncated.");
    }
    DiskFile parent = null;
    if (footer.diskType() == VhdFooter.DIFFERENCING) {
      parent = openParent(storage, path, header, backings);
    }
    return new VpcFile(storage, path, size, parent, footer, header, bat);
  }

  /**
   * A differencing disk's parent, found as the VHD specification says: the parent locators'
   * relative ("W2ru") then absolute ("W2ku") paths, then the parent's name next to the image.
   */
  private static DiskFile openParent(Storage storage, Path path, VhdDynamicHeader header, BackingOpener backings)
      throws IOException {
    String name = storage.name();
    if (backings == null) {
      return null;
    }
    List<String> candidates = new ArrayList<>();
    for (String code : List.of("W2ru", "W2ku")) {
      for (VhdDynamicHeader.ParentLocator locator : header.parentLocators()) {
        if (locator.platformCode().equals(code) && locator.dataLength() > 0 && locator.dataLength() <= 4096
            && locator.dataLength() % 2 == 0) {
          candidates.add(locatorPath(storage, locator));
        }
      }
    }
    if (!header.parentUnicodeName().isEmpty()) {
      candidates.add(header.parentUnicodeName());
    }
    Path directory = path == null ? null : path.toAbsolutePath().getParent();
    for (String candidate : candidates) {
      if (candidate == null || candidate.isEmpty()) {
        continue;
      }
      Path resolved = directory == null || Path.of(candidate).isAbsolute() ? Path.of(candidate)
          : directory.resolve(candidate);
      if (Files.exists(resolved)) {
        return backings.open(path, resolved.toString(), "vpc");
      }
    }
    throw new java.nio.file.NoSuchFileException(name, null, "the parent of this differencing VHD ("
        + String.join(", ", candidates) + ") does not exist");
  }

  /** The path a locator holds, with Windows separators turned to '/' and the ".\" prefix dropped. */
  private static String locatorPath(Storage storage, VhdDynamicHeader.ParentLocator locator) throws IOException {
    byte[] bytes = FormatReads.readInside(storage, locator.dataOffset(), (int) locator.dataLength(),
        "parent locator " + locator.platformCode());
    String windows = new String(bytes, StandardCharsets.UTF_16LE);
    int nul = windows.indexOf('\0');
    if (nul >= 0) {
      windows = windows.substring(0, nul);
    }
    String local = windows.replace('\\', '/');
    return local.startsWith("./") ? local.substring(2) : local;
  }

  @Override
  protected Mapping map(long guestOffset, long maxLength) throws IOException {
    if (bat == null) {
      return new Mapping(maxLength, Mapping.State.DATA_RECURSE, guestOffset);
    }
    long blockSize = dynamic.blockSize();
    int blockIndex = (int) (guestOffset / blockSize);
    long inBlock = guestOffset % blockSize;
    long entry = Integer.toUnsignedLong(bat[blockIndex]);
    if (entry == UNALLOCATED) {
      // QEMU joins unallocated blocks in one status; stop at the next allocated block
      long length = blockSize - inBlock;
      int next = blockIndex + 1;
      while (length < maxLength && next < bat.length && Integer.toUnsignedLong(bat[next]) == UNALLOCATED) {
        length += blockSize;
        next++;
      }
      length = Math.min(length, maxLength);
      return differencing ? Mapping.unallocated(length) : Mapping.zero(length);
    }
    long bitmapOffset = entry * SECTOR;
    long host = bitmapOffset + dynamic.bitmapBytes() + inBlock;
    long length = Math.min(maxLength, blockSize - inBlock);
    if (!differencing) {
      return Mapping.data(length, host);
    }
    return sectorRun(bitmapOffset, inBlock, length, host);
  }

  /** In a differencing disk, the run of sectors from {@code inBlock} that its bitmap marks alike. */
  private Mapping sectorRun(long bitmapOffset, long inBlock, long maxLength, long host) throws IOException {
    long firstSector = inBlock / SECTOR;
    long lastSector = (inBlock + maxLength - 1) / SECTOR;
    int firstByte = (int) (firstSector / 8);
    int byteCount = (int) (lastSector / 8) - firstByte + 1;
    byte[] bitmap = FormatReads.readOrZero(storage, bitmapOffset + firstByte, byteCount);
    boolean present = bit(bitmap, firstSector - firstByte * 8L);
    long sector = firstSector + 1;
    while (sector <= lastSector && bit(bitmap, sector - firstByte * 8L) == present) {
      sector++;
    }
    long length = Math.min(maxLength, sector * SECTOR - inBlock);
    return present ? Mapping.data(length, host) : Mapping.unallocated(length);
  }

  /** Sector bitmaps are big-endian: sector 0 of a block is the most significant bit of byte 0. */
  private static boolean bit(byte[] bitmap, long index) {
    return (bitmap[(int) (index / 8)] & (0x80 >>> (index % 8))) != 0;
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.VPC;
  }

  @Override
  public ImageInfo info() throws IOException {
    long clusterSize = dynamic == null ? 0 : dynamic.blockSize();
    return new ImageInfo(path, ImageFormat.VPC, size(), path == null ? -1 : HostFiles.allocatedBytes(path), null, null,
        null, null, clusterSize, false);
  }

  /** The footer this image was opened by (the copy at the start of a dynamic disk). */
  VhdFooter footer() {
    return footer;
  }
}
