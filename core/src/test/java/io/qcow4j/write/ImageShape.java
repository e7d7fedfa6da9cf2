package io.qcow4j.write;

import io.qcow4j.disk.Compat;
import io.qcow4j.disk.CreateOptions;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * The image shapes of the concurrent campaigns: create options and what is there before the
 * workload starts (a qcow2 backing file, an internal snapshot sharing the clusters, compressed clusters).
 */
record ImageShape(String name, long size, UnaryOperator<CreateOptions> options, boolean backing,
    boolean snapshot, boolean compressed) {
  private static final long MIB = 1 << 20;

  @Override
  public String toString() {
    return name;
  }

  /** The create options of this shape, without the backing file. */
  CreateOptions createOptions() {
    return options.apply(CreateOptions.of(size));
  }

  int clusterSize() {
    return createOptions().clusterSize();
  }

  private static ImageShape plain(String name, long size, UnaryOperator<CreateOptions> options) {
    return new ImageShape(name, size, options, false, false, false);
  }

  /** Every shape the concurrent crash and model campaigns run. */
  static List<ImageShape> campaign() {
    return List.of(
        plain("defaults", 4 * MIB, o -> o),
        plain("cluster=512", 2 * MIB, o -> o.withClusterSize(512)),
        plain("cluster=2M", 8 * MIB, o -> o.withClusterSize(2 << 20)),
        plain("extended_l2,cluster=16k", 2 * MIB, o -> o.withExtendedL2(true).withClusterSize(16384)),
        plain("extended_l2,cluster=32k", 4 * MIB, o -> o.withExtendedL2(true).withClusterSize(32768)),
        plain("compat=0.10", 4 * MIB, o -> o.withCompat(Compat.V2)),
        plain("lazy_refcounts,cluster=4k", 4 * MIB, o -> o.withLazyRefcounts(true).withClusterSize(4096)),
        new ImageShape("backing=qcow2", 4 * MIB, o -> o, true, false, false),
        new ImageShape("compressed", 4 * MIB, o -> o, false, false, true),
        new ImageShape("snapshot", 4 * MIB, o -> o, false, true, false));
  }
}
