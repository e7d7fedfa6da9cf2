package io.qcow4j.ops;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
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
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Convert's judgement of one 2 MiB data chunk into runs written and left out (qemu-img's
 * is_allocated_sectors_min with -S 4k, {@link SparseRuns}), over the chunk read into a direct
 * buffer (the JDK's mismatch per sector) and over a read-only mapping of the file (plain loads
 * through a buffer view, which a file that shrinks cannot crash): the mapped judgement is what
 * lets convert copy the data without reading it into a buffer. Chunks per second.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow"})
@State(Scope.Thread)
public class SparseRunsBenchmark {
  private static final int CHUNK = Buffers.IO_BUFFER_BYTES;

  /** What the chunk holds: all zeros (every byte scanned), random bytes, or text with zero runs. */
  @Param({"zeros", "random", "text"})
  public String content;

  private final SparseRuns runs = new SparseRuns(8, 1);
  private Path file;
  private Arena arena;
  private MemorySegment direct;
  private MemorySegment mapped;
  private ByteBuffer mappedView;

  @Setup(Level.Trial)
  public void fill() throws IOException {
    byte[] bytes = new byte[CHUNK];
    switch (content) {
      case "random" -> new Random(42).nextBytes(bytes);
      case "text" -> {
        byte[] line = "line of text in the mixed image, with a number 4711\n".getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < CHUNK; i++) {
          // a 16 KiB run of zeros in every 256 KiB
          bytes[i] = (i & 0x3ffff) < 0x3c000 ? line[i % line.length] : 0;
        }
      }
      default -> { }
    }
    file = Files.createTempFile("sparse-runs", ".raw");
    Files.write(file, bytes);
    arena = Arena.ofShared();
    direct = arena.allocate(CHUNK, 4096);
    direct.copyFrom(MemorySegment.ofArray(bytes));
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      mapped = channel.map(FileChannel.MapMode.READ_ONLY, 0, CHUNK, arena);
    }
    mappedView = Buffers.Mapped.view(mapped);
  }

  @TearDown(Level.Trial)
  public void remove() throws IOException {
    arena.close();
    Files.deleteIfExists(file);
  }

  private int judge(MemorySegment data, ByteBuffer view) {
    int sectors = CHUNK / Buffers.SECTOR;
    int written = 0;
    int sector = 0;
    while (sector < sectors) {
      long run = runs.runMin(data, view, CHUNK, sector, sectors - sector, sector);
      int length = (int) (run >>> 1);
      if ((run & 1) != 0) {
        written += length;
      }
      sector += length;
    }
    return written;
  }

  @Benchmark
  public int directBuffer() {
    return judge(direct, null);
  }

  @Benchmark
  public int mappedFile() {
    return judge(mapped, mappedView);
  }
}
