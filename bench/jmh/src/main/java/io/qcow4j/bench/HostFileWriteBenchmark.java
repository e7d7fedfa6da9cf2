package io.qcow4j.bench;

import java.io.IOException;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The baseline of AllocatedWriteBenchmark: the same 4 KiB random writes by 1 and 2 threads, straight
 * to a plain host file through FileStorage, with no qcow2 in between. Its ratio is what the machine
 * allows at the time; the engine's ratio can only approach it.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {BenchJvm.NATIVE_ACCESS, BenchJvm.UNSAFE_ACCESS})
public class HostFileWriteBenchmark {

  @Benchmark
  @Threads(1)
  public void oneThread(FilledHostFile file, ThreadBlock block) throws IOException {
    write(file, block);
  }

  @Benchmark
  @Threads(2)
  public void twoThreads(FilledHostFile file, ThreadBlock block) throws IOException {
    write(file, block);
  }

  private static void write(FilledHostFile file, ThreadBlock block) throws IOException {
    file.storage.write(block.whole(), Blocks.randomOffset(file.size));
  }
}
