package io.qcow4j.nbd;

import io.qcow4j.nbd.testkit.SectorTag;
import java.util.Random;

/**
 * Which connection owns which sectors: the disk is cut into stripes of a few sectors dealt round
 * robin to the connections, so that every connection writes its own parts of the same clusters and
 * no two connections ever touch the same byte. Hands out ranges inside one stripe of a connection,
 * mostly in a few hot clusters.
 */
final class StripeLayout {
  private final long size;
  private final int clusterSize;
  private final int stripeSectors;
  private final int connections;
  private final long[] hotClusters;

  StripeLayout(long size, int clusterSize, int stripeBytes, int connections, Random random) {
    this.size = size;
    this.clusterSize = clusterSize;
    this.stripeSectors = stripeBytes / SectorTag.SECTOR;
    this.connections = connections;
    long clusters = size / clusterSize;
    this.hotClusters = new long[(int) Math.min(clusters, 8)];
    for (int i = 0; i < hotClusters.length; i++) {
      hotClusters[i] = random.nextLong(clusters);
    }
  }

  int stripeBytes() {
    return stripeSectors * SectorTag.SECTOR;
  }

  /** The connection that owns a sector. */
  int owner(long sector) {
    return (int) (sector / stripeSectors % connections);
  }

  /** A range {offset, length} of sectors of {@code connection}'s, inside one of its stripes. */
  long[] range(int connection, Random random) {
    long cluster = random.nextInt(100) < 80 ? hotClusters[random.nextInt(hotClusters.length)]
        : random.nextLong(size / clusterSize);
    long stripes = size / SectorTag.SECTOR / stripeSectors;
    // A stripe of this connection in or after the chosen cluster (every n-th stripe is its own).
    long stripe = cluster * clusterSize / SectorTag.SECTOR / stripeSectors;
    stripe += Math.floorMod(connection - stripe, connections);
    if (random.nextBoolean()) {
      stripe += (long) connections * random.nextInt(Math.max(1, clusterSize / stripeBytes() / connections));
    }
    if (stripe >= stripes) {
      stripe = connection;
    }
    int first = random.nextInt(stripeSectors);
    int count = 1 + random.nextInt(stripeSectors - first);
    long sector = stripe * stripeSectors + first;
    return new long[] {sector * SectorTag.SECTOR, (long) count * SectorTag.SECTOR};
  }
}
