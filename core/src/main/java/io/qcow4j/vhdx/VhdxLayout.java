package io.qcow4j.vhdx;

import java.util.UUID;

/**
 * What a VHDX file's header section and metadata say, once checked: the active header, the BAT
 * and metadata regions, the file parameters, the virtual disk, and the parent's name; with the
 * BAT arithmetic of MS-VHDX section 2.5 (payload and sector bitmap entries, the chunk ratio).
 */
public record VhdxLayout(
    VhdxHeader header,
    long batOffset,
    long batLength,
    long metadataOffset,
    long metadataLength,
    long blockSize,
    boolean leaveBlocksAllocated,
    boolean differencing,
    long virtualSize,
    int logicalSectorSize,
    int physicalSectorSize,
    UUID page83,
    ParentLocator parentLocator,
    String parentName,
    boolean logReplayed) {

  /** Payload block states (section 2.5.1.1). */
  public static final int PAYLOAD_NOT_PRESENT = 0;
  /** The contents are undefined (reads as zeros). */
  public static final int PAYLOAD_UNDEFINED = 1;
  /** The block reads as zeros. */
  public static final int PAYLOAD_ZERO = 2;
  /** The block was unmapped (reads as zeros). */
  public static final int PAYLOAD_UNMAPPED = 3;
  /** Unmapped as version 0.95 of the specification wrote it (QEMU reads it as zeros). */
  public static final int PAYLOAD_UNMAPPED_V095 = 5;
  /** The block is in the file. */
  public static final int PAYLOAD_FULLY_PRESENT = 6;
  /** Some sectors are in the file, as the sector bitmap says (differencing disks only). */
  public static final int PAYLOAD_PARTIALLY_PRESENT = 7;
  /** Sector bitmap block states (section 2.5.1.2). */
  public static final int SB_BLOCK_NOT_PRESENT = 0;
  /** The sector bitmap block is in the file. */
  public static final int SB_BLOCK_PRESENT = 6;
  /** Sectors one sector bitmap block describes (2^23). */
  public static final long SECTORS_PER_BITMAP = 1L << 23;
  /** The size of a sector bitmap block. */
  public static final long BITMAP_BLOCK_SIZE = 1L << 20;
  /** 1 MiB, the unit of the file's layout. */
  public static final long MIB = 1L << 20;

  /** The number of payload blocks in a chunk (one sector bitmap block's worth). */
  public long chunkRatio() {
    return SECTORS_PER_BITMAP * logicalSectorSize / blockSize;
  }

  /** The number of payload blocks that cover the virtual disk. */
  public long dataBlocks() {
    return (virtualSize + blockSize - 1) / blockSize;
  }

  /** The number of BAT entries the virtual disk needs (section 2.5: payload entries with a bitmap entry after each chunk). */
  public long batEntries() {
    long dataBlocks = dataBlocks();
    long chunkRatio = chunkRatio();
    if (differencing) {
      return (dataBlocks + chunkRatio - 1) / chunkRatio * (chunkRatio + 1);
    }
    return dataBlocks == 0 ? 0 : dataBlocks + (dataBlocks - 1) / chunkRatio;
  }

  /** The BAT index of payload block {@code blockIndex}. */
  public long payloadEntryIndex(long blockIndex) {
    return blockIndex + blockIndex / chunkRatio();
  }

  /** The BAT index of the sector bitmap block of the chunk that holds payload block {@code blockIndex}. */
  public long bitmapEntryIndex(long blockIndex) {
    long chunkRatio = chunkRatio();
    return blockIndex / chunkRatio * (chunkRatio + 1) + chunkRatio;
  }

  /** The state of a BAT entry (its low 3 bits). */
  public static int state(long entry) {
    return (int) (entry & 7);
  }

  /** The file offset a BAT entry points at (its FileOffsetMB field, bits 20 to 63, in bytes). */
  public static long fileOffset(long entry) {
    return entry & 0xFFFFFFFFFFF00000L;
  }
}
