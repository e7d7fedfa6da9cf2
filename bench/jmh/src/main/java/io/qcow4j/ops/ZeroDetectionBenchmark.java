package io.qcow4j.ops;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Convert's zero detection over one 2 MiB chunk (qemu-img's IO_BUF_SIZE): sector by sector as the
 * raw target's sparse rules scan it, and 64 KiB unit by unit as the qcow2 target judges clusters;
 * in a heap array (before issue 10) and in a direct buffer (after). Throughput in chunks per
 * second; times 2 MiB is the scan rate. It lives in convert's package to reach {@code Buffers}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow"})
@State(Scope.Thread)
public class ZeroDetectionBenchmark {
  private static final int CHUNK = Buffers.IO_BUFFER_BYTES;
  private static final int UNIT = 64 << 10;

  /** What the chunk holds: all zeros (every byte scanned), random bytes, or text. */
  @Param({"zeros", "random", "text"})
  public String content;

  private byte[] heap;
  private ByteBuffer direct;

  @Setup
  public void fill() {
    heap = new byte[CHUNK];
    switch (content) {
      case "random" -> new Random(42).nextBytes(heap);
      case "text" -> {
        byte[] line = "line of text in the mixed image, with a number 4711\n".getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < CHUNK; i++) {
          heap[i] = line[i % line.length];
        }
      }
      default -> { }
    }
    direct = ByteBuffer.allocateDirect(CHUNK);
    direct.put(heap).clear();
  }

  @Benchmark
  public int sectorsHeap() {
    int zeroSectors = 0;
    for (int from = 0; from < CHUNK; from += Buffers.SECTOR) {
      if (Buffers.isZero(heap, from, Buffers.SECTOR)) {
        zeroSectors++;
      }
    }
    return zeroSectors;
  }

  @Benchmark
  public int sectorsDirect() {
    int zeroSectors = 0;
    for (int from = 0; from < CHUNK; from += Buffers.SECTOR) {
      if (Buffers.isZero(direct, from, Buffers.SECTOR)) {
        zeroSectors++;
      }
    }
    return zeroSectors;
  }

  @Benchmark
  public int unitsHeap() {
    int zeroUnits = 0;
    for (int from = 0; from < CHUNK; from += UNIT) {
      if (Buffers.isZero(heap, from, UNIT)) {
        zeroUnits++;
      }
    }
    return zeroUnits;
  }

  @Benchmark
  public int unitsDirect() {
    int zeroUnits = 0;
    for (int from = 0; from < CHUNK; from += UNIT) {
      if (Buffers.isZero(direct, from, UNIT)) {
        zeroUnits++;
      }
    }
    return zeroUnits;
  }

  private static final ByteBuffer WRITABLE_ZEROS = ByteBuffer.allocateDirect(CHUNK);
  private static final ByteBuffer HEAP_ZEROS = ByteBuffer.allocate(CHUNK);

  @Benchmark
  public int unitsDirectAgainstWritableZeros() {
    int zeroUnits = 0;
    for (int from = 0; from < CHUNK; from += UNIT) {
      if (direct.slice(from, UNIT).mismatch(WRITABLE_ZEROS.slice(0, UNIT)) < 0) {
        zeroUnits++;
      }
    }
    return zeroUnits;
  }

  @Benchmark
  public int unitsDirectAgainstHeapZeros() {
    int zeroUnits = 0;
    for (int from = 0; from < CHUNK; from += UNIT) {
      if (direct.slice(from, UNIT).mismatch(HEAP_ZEROS.slice(0, UNIT)) < 0) {
        zeroUnits++;
      }
    }
    return zeroUnits;
  }

  @Benchmark
  public int unitsDirectLongScan() {
    int zeroUnits = 0;
    for (int from = 0; from < CHUNK; from += UNIT) {
      long bits = 0;
      int end = from + UNIT;
      for (int i = from; i < end && bits == 0; i += 64) {
        for (int j = 0; j < 64; j += 8) {
          bits |= direct.getLong(i + j);
        }
      }
      if (bits == 0) {
        zeroUnits++;
      }
    }
    return zeroUnits;
  }
}
