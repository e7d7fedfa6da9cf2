package io.qcow4j.vpc;

/**
 * A VHD's CHS geometry, computed from a sector count by the algorithm of the VHD specification
 * (appendix "CHS Calculation") as QEMU 7.2's calculate_geometry implements it; pure arithmetic.
 */
public record VhdGeometry(int cylinders, int heads, int sectorsPerTrack) {
  /** The largest geometry there is, which means "use the footer's current size" (QEMU's VHD_MAX_GEOMETRY). */
  public static final VhdGeometry MAX = new VhdGeometry(65535, 16, 255);

  /** The geometry for {@code totalSectors}, which may round the count down. */
  public static VhdGeometry forSectors(long totalSectors) {
    long sectors = Math.min(totalSectors, MAX.sectors());
    int sectorsPerTrack;
    int heads;
    long cylindersTimesHeads;
    if (sectors >= 65535L * 16 * 63) {
      sectorsPerTrack = 255;
      heads = 16;
      cylindersTimesHeads = sectors / sectorsPerTrack;
    } else {
      sectorsPerTrack = 17;
      cylindersTimesHeads = sectors / sectorsPerTrack;
      heads = (int) Math.max(4, (cylindersTimesHeads + 1023) / 1024);
      if (cylindersTimesHeads >= heads * 1024L || heads > 16) {
        sectorsPerTrack = 31;
        heads = 16;
        cylindersTimesHeads = sectors / sectorsPerTrack;
      }
      if (cylindersTimesHeads >= heads * 1024L) {
        sectorsPerTrack = 63;
        heads = 16;
        cylindersTimesHeads = sectors / sectorsPerTrack;
      }
    }
    // QEMU keeps cylinders in a uint32_t division stored to a uint16_t
    return new VhdGeometry((int) ((cylindersTimesHeads / heads) & 0xffff), heads, sectorsPerTrack);
  }

  /**
   * The geometry qemu-img create gives a disk of {@code totalSectors}: the smallest computed one
   * that holds them all (vpc_co_create raises the count until it fits), or {@link #MAX} when none does.
   */
  public static VhdGeometry covering(long totalSectors) {
    long wanted = Math.min(MAX.sectors(), totalSectors);
    VhdGeometry geometry = new VhdGeometry(0, 0, 0);
    for (long extra = 0; wanted > geometry.sectors(); extra++) {
      geometry = forSectors(wanted + extra);
    }
    return geometry;
  }

  /** The sectors this geometry addresses. */
  public long sectors() {
    return (long) cylinders * heads * sectorsPerTrack;
  }
}
