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

/** 4 KiB reads at random offsets of an image whose clusters are all allocated, by 1 and by 2 threads. */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {BenchJvm.NATIVE_ACCESS, BenchJvm.UNSAFE_ACCESS})
public class RandomReadBenchmark {

  @Benchmark
  @Threads(1)
  public int oneThread(FilledImage image, ThreadBlock block) throws IOException {
    return read(image, block);
  }

  @Benchmark
  @Threads(2)
  public int twoThreads(FilledImage image, ThreadBlock block) throws IOException {
    return read(image, block);
  }

  private static int read(FilledImage image, ThreadBlock block) throws IOException {
    return image.disk.read(block.whole(), Blocks.randomOffset(image.size));
  }
}
