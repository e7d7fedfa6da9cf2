package io.qcow4j.vdi;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The 512-byte VDI header (version 1.1, little-endian) as VirtualBox writes it and QEMU's
 * block/vdi.c reads it; pure decoding, no I/O.
 */
public record VdiHeader(
    long signature,
    long version,
    long headerSize,
    long imageType,
    long offsetBlockMap,
    long offsetData,
    long sectorSize,
    long diskSize,
    long blockSize,
    long blocksInImage,
    long blocksAllocated,
    boolean linkUuidNull,
    boolean parentUuidNull) {

  /** The header's size. */
  public static final int SIZE = 512;
  /** The signature at offset 64. */
  public static final long SIGNATURE = 0xbeda107fL;
  /** Version 1.1, the one QEMU reads. */
  public static final long VERSION_1_1 = 0x00010001L;
  /** Image type of a dynamic image (blocks allocated on write). */
  public static final long TYPE_DYNAMIC = 1;
  /** Image type of a static image (every block allocated at creation). */
  public static final long TYPE_STATIC = 2;
  /** The only block size QEMU reads (1 MiB). */
  public static final long BLOCK_SIZE = 1L << 20;
  /** QEMU's VDI_BLOCKS_IN_IMAGE_MAX. */
  public static final long MAX_BLOCKS = 0xffffffffL / 4;
  /** QEMU's VDI_DISK_SIZE_MAX. */
  public static final long MAX_DISK_SIZE = MAX_BLOCKS * BLOCK_SIZE;

  /** Decodes a header; the caller checks its fields. */
  public static VdiHeader decode(byte[] bytes) {
    ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    return new VdiHeader(
        u32(buffer, 64), u32(buffer, 68), u32(buffer, 72), u32(buffer, 76),
        u32(buffer, 340), u32(buffer, 344), u32(buffer, 360), buffer.getLong(368),
        u32(buffer, 376), u32(buffer, 384), u32(buffer, 388),
        isZero(bytes, 424, 16), isZero(bytes, 440, 16));
  }

  private static long u32(ByteBuffer buffer, int offset) {
    return Integer.toUnsignedLong(buffer.getInt(offset));
  }

  private static boolean isZero(byte[] bytes, int offset, int length) {
    for (int i = offset; i < offset + length; i++) {
      if (bytes[i] != 0) {
        return false;
      }
    }
    return true;
  }
}
