package io.qcow4j.write;

import io.qcow4j.qcow2.QcowFile;
import java.io.IOException;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.Phaser;

/**
 * The barrier between the rounds of the striped writers: when all have arrived, about a third of
 * the clusters that several writers share are discarded whole (the shadow zeroed with them), so
 * that the next round allocates them again under concurrent writers. A failure here terminates
 * the barrier and is kept for the test to report.
 */
final class ClusterEmptier extends Phaser {
  private final QcowFile disk;
  private final StripeLayout layout;
  private final byte[] shadow;
  private final Random random;
  private volatile Exception failure;

  ClusterEmptier(int writers, QcowFile disk, StripeLayout layout, byte[] shadow, Random random) {
    super(writers);
    this.disk = disk;
    this.layout = layout;
    this.shadow = shadow;
    this.random = random;
  }

  /** What went wrong while emptying clusters, or null. */
  Exception failure() {
    return failure;
  }

  @Override
  protected boolean onAdvance(int phase, int registeredParties) {
    int clusterSize = disk.clusterSize();
    long sharedEnd = layout.regionEnd(2);
    try {
      for (long cluster = 0; cluster < sharedEnd; cluster += clusterSize) {
        if (random.nextInt(3) == 0) {
          disk.discard(cluster, clusterSize);
          Arrays.fill(shadow, (int) cluster, (int) cluster + clusterSize, (byte) 0);
        }
      }
      return false;
    } catch (IOException | RuntimeException e) {
      failure = e;
      return true;
    }
  }
}
