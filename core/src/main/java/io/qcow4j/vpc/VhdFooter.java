package io.qcow4j.vpc;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The 512-byte VHD footer (Microsoft's "Virtual Hard Disk Image Format Specification", Hard Disk
 * Footer Format), big-endian; pure decoding, no I/O. {@code creatorApp} is the raw 4-byte field.
 */
public record VhdFooter(
    long features,
    long formatVersion,
    long dataOffset,
    long timestamp,
    byte[] creatorApp,
    long originalSize,
    long currentSize,
    int cylinders,
    int heads,
    int sectorsPerTrack,
    long diskType,
    long checksum,
    boolean checksumValid) {

  /** The footer's size, and that of its copy at the start of a dynamic disk. */
  public static final int SIZE = 512;
  /** Disk type of a fixed disk. */
  public static final long FIXED = 2;
  /** Disk type of a dynamic disk. */
  public static final long DYNAMIC = 3;
  /** Disk type of a differencing disk. */
  public static final long DIFFERENCING = 4;
  /** QEMU's VHD_MAX_GEOMETRY: 65535 cylinders, 16 heads, 255 sectors per track. */
  public static final long MAX_GEOMETRY_SECTORS = 65535L * 16 * 255;
  /** QEMU's VHD_MAX_SECTORS: the largest disk it opens (2040 GiB). */
  public static final long MAX_SECTORS = 0xff000000L;

  private static final byte[] COOKIE = "conectix".getBytes(StandardCharsets.US_ASCII);
  private static final int CHECKSUM_OFFSET = 64;

  /** Whether {@code bytes} (at least 8) start with the footer cookie "conectix". */
  public static boolean hasCookie(byte[] bytes) {
    for (int i = 0; i < COOKIE.length; i++) {
      if (bytes[i] != COOKIE[i]) {
        return false;
      }
    }
    return true;
  }

  /** Decodes a footer whose cookie the caller found; the checksum is checked, not enforced. */
  public static VhdFooter decode(byte[] bytes) {
    ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.BIG_ENDIAN);
    byte[] creatorApp = new byte[4];
    buffer.get(28, creatorApp);
    long checksum = Integer.toUnsignedLong(buffer.getInt(CHECKSUM_OFFSET));
    return new VhdFooter(
        Integer.toUnsignedLong(buffer.getInt(8)),
        Integer.toUnsignedLong(buffer.getInt(12)),
        buffer.getLong(16),
        Integer.toUnsignedLong(buffer.getInt(24)),
        creatorApp,
        buffer.getLong(40),
        buffer.getLong(48),
        Short.toUnsignedInt(buffer.getShort(56)),
        Byte.toUnsignedInt(buffer.get(58)),
        Byte.toUnsignedInt(buffer.get(59)),
        Integer.toUnsignedLong(buffer.getInt(60)),
        checksum,
        checksum(bytes, 0, SIZE, CHECKSUM_OFFSET) == checksum);
  }

  /**
   * The VHD checksum of {@code length} bytes from {@code start}: the one's complement of the sum of
   * all bytes, the 4-byte checksum field at {@code checksumOffset} (relative to start) counted as zeros.
   */
  public static long checksum(byte[] bytes, int start, int length, int checksumOffset) {
    long sum = 0;
    for (int i = 0; i < length; i++) {
      if (i >= checksumOffset && i < checksumOffset + 4) {
        continue;
      }
      sum += bytes[start + i] & 0xff;
    }
    return ~sum & 0xffffffffL;
  }

  /** The CHS geometry's sector count. */
  public long geometrySectors() {
    return (long) cylinders * heads * sectorsPerTrack;
  }

  /**
   * How vpc_open chooses the virtual size (its force_size_calc open option): by the creator
   * application ({@link #AUTO}), from the CHS geometry ({@link #CHS}: even for the applications
   * that use the current size) or from the current size ({@link #CURRENT_SIZE}); whatever the
   * choice, an image whose geometry is the largest there is takes its current size.
   */
  public enum SizeCalc {
    AUTO, CHS, CURRENT_SIZE;

    /** The mode force_size_calc names ("chs", "current_size"), AUTO for null; null for any other word. */
    public static SizeCalc parse(String option) {
      if (option == null) {
        return AUTO;
      }
      return switch (option) {
        case "chs" -> CHS;
        case "current_size" -> CURRENT_SIZE;
        default -> null;
      };
    }
  }

  /**
   * Whether the virtual size comes from the CHS geometry, as QEMU 7.2's vpc_open decides by the
   * creator application: Virtual PC ("vpc ") and QEMU ("qemu") use it; Hyper-V ("win "), QEMU with
   * force_size ("qem2"), Disk2vhd ("d2v "), XenConverter ("CTXS") and XenServer ("tap\0") use the
   * current size, as does any image whose geometry is the largest there is.
   */
  public boolean sizeFromGeometry() {
    return sizeFromGeometry(SizeCalc.AUTO);
  }

  /** Whether the virtual size comes from the CHS geometry when opened with force_size_calc {@code calc}. */
  public boolean sizeFromGeometry(SizeCalc calc) {
    String app = new String(creatorApp, StandardCharsets.ISO_8859_1);
    boolean geometryApp = !app.equals("win ") && !app.equals("qem2") && !app.equals("d2v ") && !app.equals("CTXS")
        && !app.equals("tap\0");
    return (geometryApp || calc == SizeCalc.CHS) && calc != SizeCalc.CURRENT_SIZE
        && geometrySectors() != MAX_GEOMETRY_SECTORS;
  }

  /** The virtual disk's size in sectors as QEMU 7.2 computes it. */
  public long virtualSectors() {
    return virtualSectors(SizeCalc.AUTO);
  }

  /** The virtual disk's size in sectors as QEMU 7.2 computes it when opened with force_size_calc {@code calc}. */
  public long virtualSectors(SizeCalc calc) {
    return sizeFromGeometry(calc) ? geometrySectors() : Long.divideUnsigned(currentSize, 512);
  }
}
