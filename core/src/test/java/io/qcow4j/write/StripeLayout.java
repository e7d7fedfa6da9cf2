package io.qcow4j.write;

/**
 * Which writer owns which sector: the disk is cut into four cluster-aligned regions, striped among
 * the writers in stripes of one sector, 4 KiB (or one cluster if smaller), half a cluster and a
 * whole cluster, so that writers share clusters but never bytes.
 */
record StripeLayout(long size, int clusterSize, int writers) {
  static final int REGIONS = 4;

  /** The first byte of region {@code region}. */
  long regionStart(int region) {
    long clusters = size / clusterSize;
    return clusters * region / REGIONS * clusterSize;
  }

  long regionEnd(int region) {
    return region == REGIONS - 1 ? size : regionStart(region + 1);
  }

  /** The stripe width of a region in bytes. */
  int stripe(int region) {
    return switch (region) {
      case 0 -> SectorTag.SECTOR;
      case 1 -> Math.min(4096, clusterSize);
      case 2 -> Math.max(SectorTag.SECTOR, clusterSize / 2);
      default -> clusterSize;
    };
  }

  /** How many stripes of region {@code region} writer {@code writer} owns. */
  long stripesOf(int region, int writer) {
    long stripes = (regionEnd(region) - regionStart(region)) / stripe(region);
    return stripes / writers + (writer < stripes % writers ? 1 : 0);
  }

  /** The offset of the {@code index}-th stripe that {@code writer} owns in {@code region}. */
  long stripeOffset(int region, int writer, long index) {
    return regionStart(region) + (index * writers + writer) * stripe(region);
  }

  /** The writer that owns the byte at {@code offset}. */
  int owner(long offset) {
    for (int region = 0; region < REGIONS; region++) {
      if (offset < regionEnd(region)) {
        return (int) ((offset - regionStart(region)) / stripe(region) % writers);
      }
    }
    throw new IllegalArgumentException("offset " + offset + " is past the disk's " + size + " bytes");
  }
}
