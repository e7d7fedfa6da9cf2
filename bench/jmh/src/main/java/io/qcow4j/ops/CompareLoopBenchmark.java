package io.qcow4j.ops;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Compare's inner step over one 2 MiB range of two equal files in the page cache: read both into
 * direct buffers and run the JDK's mismatch (before session 5), against map both and test them
 * with {@code Buffers.Mapped}'s loads (after: no copy by the kernel, a fault of a shrunk file is
 * an error). Throughput in ranges per second; times 2 MiB is the rate per side.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow"})
@State(Scope.Thread)
public class CompareLoopBenchmark {
  private static final int RANGE = Buffers.IO_BUFFER_BYTES;
  private static final int RANGES = 64;

  private Path directory;
  private FileChannel first;
  private FileChannel second;
  private ByteBuffer buffer1;
  private ByteBuffer buffer2;
  private int next;

  @Setup(Level.Trial)
  public void files() throws IOException {
    directory = Files.createTempDirectory("qcow4j-compare-bench");
    byte[] data = new byte[RANGE * RANGES];
    new Random(42).nextBytes(data);
    Files.write(directory.resolve("a"), data);
    Files.write(directory.resolve("b"), data);
    first = FileChannel.open(directory.resolve("a"), StandardOpenOption.READ);
    second = FileChannel.open(directory.resolve("b"), StandardOpenOption.READ);
    buffer1 = ByteBuffer.allocateDirect(RANGE);
    buffer2 = ByteBuffer.allocateDirect(RANGE);
  }

  @TearDown(Level.Trial)
  public void remove() throws IOException {
    first.close();
    second.close();
    Files.delete(directory.resolve("a"));
    Files.delete(directory.resolve("b"));
    Files.delete(directory);
  }

  private long nextOffset() {
    next = (next + 1) % RANGES;
    return (long) next * RANGE;
  }

  @Benchmark
  public int readAndMismatch() throws IOException {
    long offset = nextOffset();
    read(first, buffer1.clear(), offset);
    read(second, buffer2.clear(), offset);
    return Buffers.firstDifferentSector(MemorySegment.ofBuffer(buffer1.clear()), MemorySegment.ofBuffer(buffer2.clear()), RANGE,
        false);
  }

  @Benchmark
  public int mapAndLoads() throws IOException {
    long offset = nextOffset();
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment a = first.map(FileChannel.MapMode.READ_ONLY, offset, RANGE, arena);
      MemorySegment b = second.map(FileChannel.MapMode.READ_ONLY, offset, RANGE, arena);
      return Buffers.firstDifferentSector(a, b, RANGE, true);
    }
  }

  private static void read(FileChannel channel, ByteBuffer buffer, long offset) throws IOException {
    while (buffer.hasRemaining()) {
      channel.read(buffer, offset + buffer.position());
    }
  }
}
