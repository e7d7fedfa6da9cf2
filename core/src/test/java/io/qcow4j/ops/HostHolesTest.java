package io.qcow4j.ops;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.internal.storage.FileStorage;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link HostHoles} finds a sparse file's holes inside a range, and {@link SparseRuns} given them
 * judges exactly the runs it judges by reading the zeros (so convert's output is the same whether
 * or not it knows where the holes are).
 */
class HostHolesTest {
  private static final int KIB = 1024;
  @TempDir Path dir;

  @Test
  void findsTheHolesOfASparseFileInsideARange() throws IOException {
    Path file = dir.resolve("sparse");
    byte[] data = new byte[64 * KIB];
    new Random(1).nextBytes(data);
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      // data at [0, 64k), [256k, 320k), [1M, 1M + 64k); holes between and after, up to 2 MiB
      channel.write(ByteBuffer.wrap(data), 0);
      channel.write(ByteBuffer.wrap(data), 256 * KIB);
      channel.write(ByteBuffer.wrap(data), 1024 * KIB);
      channel.truncate(2048 * KIB);
      channel.write(ByteBuffer.allocate(1), 2048 * KIB - 1);
    }
    try (FileStorage storage = FileStorage.open(file, true)) {
      long[] holes = HostHoles.find(storage, 0, 2048 * KIB);
      if (holes == null) {
        // a file system without SEEK_HOLE reports the whole file as data: nothing to skip
        assertThat(storage.nextHole(0)).isGreaterThanOrEqualTo(2048L * KIB - 1);
        return;
      }
      assertThat(holes).startsWith(64 * KIB, 256 * KIB, 320 * KIB, 1024 * KIB, 1088 * KIB);
      assertThat(holes.length).isEqualTo(6);
      assertThat(holes[5]).isBetween(1088L * KIB, 2048L * KIB);
      // a range inside data has none; one that starts in a hole has it at its start, clipped
      assertThat(HostHoles.find(storage, 256 * KIB, 64 * KIB)).isNull();
      assertThat(HostHoles.find(storage, 128 * KIB, 256 * KIB)).containsExactly(0, 128 * KIB, 192 * KIB, 256 * KIB);
      // a copy's memo asks a file with holes each time
      HostHoles copy = new HostHoles();
      assertThat(copy.in(storage, 0, 2048 * KIB)).isEqualTo(holes);
      assertThat(copy.in(storage, 128 * KIB, 256 * KIB)).containsExactly(0, 128 * KIB, 192 * KIB, 256 * KIB);
    }
  }

  @Test
  void aFileWithoutHolesHasNoneAnywhere() throws IOException {
    Path file = dir.resolve("dense");
    byte[] data = new byte[256 * KIB];
    new Random(2).nextBytes(data);
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      channel.write(ByteBuffer.wrap(data), 0);
    }
    try (FileStorage storage = FileStorage.open(file, true)) {
      HostHoles copy = new HostHoles();
      assertThat(copy.in(storage, 0, 256 * KIB)).isNull();
      assertThat(copy.in(storage, 64 * KIB, 64 * KIB)).isNull();
    }
  }

  @Test
  void sparseRunsGivenTheHolesJudgeAsWhenReadingTheirZeros() {
    Random random = new Random(7);
    for (int round = 0; round < 300; round++) {
      int length = (1 + random.nextInt(64)) * 4 * KIB - (random.nextBoolean() ? random.nextInt(512) : 0);
      byte[] bytes = new byte[length];
      random.nextBytes(bytes);
      // zero runs of data that are not holes, and holes (zeros too) of any alignment
      for (int i = random.nextInt(4); i > 0; i--) {
        int from = random.nextInt(length);
        java.util.Arrays.fill(bytes, from, Math.min(length, from + random.nextInt(16 * KIB)), (byte) 0);
      }
      List<Long> holeList = new ArrayList<>();
      int cursor = 0;
      while (cursor < length && random.nextInt(3) != 0) {
        int from = cursor + random.nextInt(length - cursor);
        int to = Math.min(length, from + 1 + random.nextInt(24 * KIB));
        java.util.Arrays.fill(bytes, from, to, (byte) 0);
        holeList.add((long) from);
        holeList.add((long) to);
        cursor = to + 1;
      }
      long[] holes = holeList.stream().mapToLong(Long::longValue).toArray();
      // the data outside the holes as the reader sees it: a byte in each hole made nonzero shows
      // that a sector wholly inside a hole is never read
      byte[] poisoned = bytes.clone();
      for (int i = 0; i < holes.length; i += 2) {
        long firstWhole = (holes[i] + 511) / 512 * 512;
        if (firstWhole + 512 <= holes[i + 1]) {
          poisoned[(int) firstWhole] = 1;
        }
      }
      int threshold = 1 << random.nextInt(6);
      SparseRuns runs = new SparseRuns(threshold, 1);
      int sectors = (length + 511) / 512;
      long start = random.nextInt(64);
      MemorySegment plain = MemorySegment.ofArray(bytes);
      MemorySegment withHoles = MemorySegment.ofArray(poisoned);
      int sector = 0;
      while (sector < sectors) {
        long expected = runs.runMin(plain, null, null, length, sector, sectors - sector, start + sector);
        long actual = runs.runMin(withHoles, null, holes, length, sector, sectors - sector, start + sector);
        assertThat(actual).as("round %d, sector %d of %d, holes %s", round, sector, sectors,
            java.util.Arrays.toString(holes)).isEqualTo(expected);
        sector += (int) (expected >>> 1);
      }
    }
  }
}
