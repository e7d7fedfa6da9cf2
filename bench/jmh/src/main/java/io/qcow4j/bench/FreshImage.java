package io.qcow4j.bench;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * An empty qcow2 image of 1 TiB (64 KiB clusters), new for each fork, that hands out the offset of
 * a never-written cluster to every allocating write of the benchmark's threads.
 */
@State(Scope.Benchmark)
public class FreshImage {
  static final int CLUSTER_SIZE = 65536;
  private static final long SIZE = 1L << 40;

  DiskFile disk;
  private Path path;
  private final AtomicLong nextCluster = new AtomicLong();

  @Setup(Level.Trial)
  public void create() throws IOException {
    path = BenchFiles.newDirectory().resolve("fresh.qcow2");
    QcowFile.create(path, CreateOptions.of(SIZE).withClusterSize(CLUSTER_SIZE)).close();
    disk = QcowFile.open(path, OpenOptions.readWriteDefaults());
  }

  /**
   * The offset of a cluster no write has touched yet: 1 TiB holds 16 Mi clusters, far more than a
   * fork writes (it would wrap around and rewrite allocated clusters after them).
   */
  long unallocatedCluster() {
    return nextCluster.getAndIncrement() * CLUSTER_SIZE % SIZE;
  }

  @TearDown(Level.Trial)
  public void abandon() throws IOException {
    BenchFiles.abandon(path);
  }
}
