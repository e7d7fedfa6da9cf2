package io.qcow4j.bench;

import java.io.IOException;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * 4 KiB writes each into a cluster nobody wrote before (so each allocates a cluster and maps it),
 * by 1 and 2 threads, and by 16 virtual threads at once (depth 16); the image is new each fork.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {BenchJvm.NATIVE_ACCESS, BenchJvm.UNSAFE_ACCESS})
public class AllocatingWriteBenchmark {

  @Benchmark
  @Threads(1)
  public int oneThread(FreshImage image, ThreadBlock block) throws IOException {
    return write(image, block);
  }

  @Benchmark
  @Threads(2)
  public int twoThreads(FreshImage image, ThreadBlock block) throws IOException {
    return write(image, block);
  }

  /** One invocation is {@link DepthWriters#WRITES} writes by 16 virtual threads; the score counts writes. */
  @Benchmark
  @Threads(1)
  @OperationsPerInvocation(DepthWriters.WRITES)
  public void depth16(FreshImage image, DepthWriters writers) throws Exception {
    writers.writeAll(image);
  }

  private static int write(FreshImage image, ThreadBlock block) throws IOException {
    return image.disk.write(block.whole(), image.unallocatedCluster());
  }
}
