package io.qcow4j.vhdx;

import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.internal.formats.BackingOpener;
import io.qcow4j.internal.formats.Mapping;
import io.qcow4j.internal.formats.ReadOnlyImage;
import io.qcow4j.internal.storage.HostFiles;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;

/**
 * A VHDX image (Microsoft's MS-VHDX, read as QEMU 7.2's vhdx driver reads it where QEMU reads it):
 * fixed and dynamic disks map payload blocks through the BAT, blocks in the not-present, undefined,
 * zero and unmapped states read as zeros; a differencing disk reads what its sector bitmaps do
 * not mark present from its parent. A dirty log is replayed in memory ({@link VhdxOpener}).
 */
public final class VhdxFile extends ReadOnlyImage {
  private final VhdxLayout layout;
  private final long[] bat;

  private VhdxFile(Storage storage, Path path, VhdxLayout layout, long[] bat, DiskFile parent) {
    super(storage, path, layout.virtualSize(), parent);
    this.layout = layout;
    this.bat = bat;
  }

  /**
   * Opens the VHDX image held by {@code storage} (named {@code path}), every structure checked
   * (see {@link VhdxOpener}); a differencing disk's parent opens through {@code backings} (null:
   * no parent, its blocks read as zeros). The storage is the caller's to close if this fails.
   */
  public static VhdxFile open(Storage storage, Path path, BackingOpener backings) throws IOException {
    VhdxOpener.Opened opened = VhdxOpener.open(storage, path, backings);
    return new VhdxFile(opened.storage(), path, opened.layout(), opened.bat(), opened.parent());
  }

  /**
   * QEMU 7.2's vhdx driver answers no block status: map, NBD's base:allocation and convert see the
   * whole disk as data at no known offset, and read it all (holes read as zeros).
   */
  @Override
  protected boolean reportsBlockStatus() {
    return false;
  }

  @Override
  protected Mapping map(long guestOffset, long maxLength) throws IOException {
    long blockSize = layout.blockSize();
    long blockIndex = guestOffset / blockSize;
    long inBlock = guestOffset - blockIndex * blockSize;
    long entry = entry(blockIndex);
    int state = VhdxLayout.state(entry);
    long length = Math.min(maxLength, blockSize - inBlock);
    switch (state) {
      case VhdxLayout.PAYLOAD_FULLY_PRESENT -> {
        long host = VhdxLayout.fileOffset(entry) + inBlock;
        // contiguous blocks join into one host read
        long next = blockIndex + 1;
        while (length < maxLength && next * blockSize < size()) {
          long nextEntry = entry(next);
          if (VhdxLayout.state(nextEntry) != VhdxLayout.PAYLOAD_FULLY_PRESENT
              || VhdxLayout.fileOffset(nextEntry) != host + length) {
            break;
          }
          length = Math.min(maxLength, length + blockSize);
          next++;
        }
        return new Mapping(length, Mapping.State.DATA_RECURSE, host);
      }
      case VhdxLayout.PAYLOAD_PARTIALLY_PRESENT -> {
        if (!layout.differencing()) {
          throw badState(blockIndex, state, "is only valid in a differencing disk");
        }
        return sectorRun(blockIndex, entry, guestOffset, length);
      }
      case VhdxLayout.PAYLOAD_NOT_PRESENT, VhdxLayout.PAYLOAD_UNDEFINED, VhdxLayout.PAYLOAD_ZERO,
          VhdxLayout.PAYLOAD_UNMAPPED, VhdxLayout.PAYLOAD_UNMAPPED_V095 -> {
        boolean fromParent = layout.differencing() && state == VhdxLayout.PAYLOAD_NOT_PRESENT;
        long next = blockIndex + 1;
        while (length < maxLength && next * blockSize < size()) {
          int nextState = VhdxLayout.state(entry(next));
          boolean nextFromParent = layout.differencing() && nextState == VhdxLayout.PAYLOAD_NOT_PRESENT;
          if (nextFromParent != fromParent || nextState == VhdxLayout.PAYLOAD_FULLY_PRESENT
              || nextState == VhdxLayout.PAYLOAD_PARTIALLY_PRESENT || nextState == 4) {
            break;
          }
          length = Math.min(maxLength, length + blockSize);
          next++;
        }
        return fromParent ? Mapping.unallocated(length) : Mapping.zero(length);
      }
      default -> throw badState(blockIndex, state, "is reserved");
    }
  }

  /** The BAT entry of payload block {@code blockIndex} (sector bitmap entries interleaved every chunk ratio). */
  private long entry(long blockIndex) {
    return bat[(int) layout.payloadEntryIndex(blockIndex)];
  }

  /** In a partially present block, the run of sectors from {@code guestOffset} its sector bitmap marks alike. */
  private Mapping sectorRun(long blockIndex, long entry, long guestOffset, long maxLength) throws IOException {
    long bitmapEntry = bat[(int) layout.bitmapEntryIndex(blockIndex)];
    if (VhdxLayout.state(bitmapEntry) != VhdxLayout.SB_BLOCK_PRESENT) {
      throw new CorruptImageException(name() + ": BAT entry " + layout.bitmapEntryIndex(blockIndex)
          + " (sector bitmap of payload block " + blockIndex + ") is not present, but the block is partially present");
    }
    int sectorSize = layout.logicalSectorSize();
    long sectorsPerChunk = VhdxLayout.SECTORS_PER_BITMAP;
    long firstSector = (guestOffset / sectorSize) % sectorsPerChunk;
    long lastSector = ((guestOffset + maxLength - 1) / sectorSize) % sectorsPerChunk;
    int firstByte = (int) (firstSector / 8);
    int byteCount = (int) (lastSector / 8) - firstByte + 1;
    byte[] bitmap = io.qcow4j.internal.formats.FormatReads.readOrZero(storage,
        VhdxLayout.fileOffset(bitmapEntry) + firstByte, byteCount);
    boolean present = bit(bitmap, firstSector - firstByte * 8L);
    long sector = firstSector + 1;
    while (sector <= lastSector && bit(bitmap, sector - firstByte * 8L) == present) {
      sector++;
    }
    long runEnd = guestOffset - (guestOffset % sectorSize) + (sector - firstSector) * sectorSize;
    long length = Math.min(maxLength, runEnd - guestOffset);
    long inBlock = guestOffset % layout.blockSize();
    return present ? new Mapping(length, Mapping.State.DATA_RECURSE, VhdxLayout.fileOffset(entry) + inBlock)
        : Mapping.unallocated(length);
  }

  /** Sector bitmaps are little-endian: the first sector of a chunk is bit 0 of byte 0 (section 2.5). */
  private static boolean bit(byte[] bitmap, long index) {
    return (bitmap[(int) (index / 8)] & (1 << (index % 8))) != 0;
  }

  private CorruptImageException badState(long blockIndex, int state, String why) {
    return new CorruptImageException(name() + ": BAT entry " + layout.payloadEntryIndex(blockIndex)
        + " (payload block " + blockIndex + "): state " + state + " " + why);
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.VHDX;
  }

  @Override
  public ImageInfo info() throws IOException {
    return new ImageInfo(path, ImageFormat.VHDX, size(), path == null ? -1 : HostFiles.allocatedBytes(path),
        layout.parentName(), layout.parentName() == null ? null : "vhdx", null, null, layout.blockSize(), false);
  }

  /**
   * QEMU's vhdx_co_check: the BAT's present blocks must lie inside the file and clear of the
   * regions. The open already refused a BAT that breaks those rules, so an image that opened
   * checks clean; a repair (which would replay the log into the file) is refused.
   */
  @Override
  public CheckResult check(CheckResult.Repair repair) throws IOException {
    if (repair != CheckResult.Repair.NONE) {
      throw new UnsupportedFeatureException(name() + ": image format 'vhdx' is supported read-only by qcow4j;"
          + " it cannot repair it");
    }
    size();
    return new CheckResult(name(), "vhdx", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, List.of());
  }

  /**
   * qemu-img check -r on the VHDX image held by {@code storage} (opened read-write, named
   * {@code path}), as QEMU does it: the image checked as an open checks it, an active log replayed
   * into the file ({@link VhdxRepair}; one corruption fixed, as vhdx_co_check counts it), then
   * checked. The storage is closed when this returns, and is the caller's to close if the image
   * does not open.
   */
  public static CheckResult repair(Storage storage, Path path, BackingOpener backings) throws IOException {
    if (storage.isReadOnly()) {
      throw new IllegalArgumentException("a repair needs the image opened read-write");
    }
    VhdxFile image = open(storage, path, backings);
    try (image) {
      CheckResult checked = image.check(CheckResult.Repair.NONE);
      if (!VhdxRepair.replay(storage)) {
        return checked;
      }
      return new CheckResult(checked.filename(), checked.format(), checked.checkErrors(), checked.corruptions(),
          checked.leaks(), 1, 0, 0, 0, 0, 0, 0, List.of());
    }
  }

  /** The parsed structures this image was opened with. */
  VhdxLayout layout() {
    return layout;
  }

  /** The active header's DataWriteGuid, which a differencing child's parent_linkage names. */
  UUID dataWriteGuid() {
    return layout.header().dataWriteGuid();
  }
}
