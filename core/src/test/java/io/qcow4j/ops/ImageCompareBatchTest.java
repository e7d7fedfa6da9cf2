package io.qcow4j.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.ForwardingReadOnlyDisk;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.RawDiskFile;
import io.qcow4j.qcow2.QcowFile;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.LongPredicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ImageCompare}'s batches: consecutive ranges both images hold compared as one task over one
 * mapping of each file, verdicts still taken in guest order, and the same results, progress
 * steps and errors as a walk range by range.
 */
class ImageCompareBatchTest {
  private static final int MIB = 1 << 20;

  @TempDir Path dir;

  private static byte[] random(int length, long seed) {
    byte[] bytes = new byte[length];
    new Random(seed).nextBytes(bytes);
    return bytes;
  }

  private Path write(String name, byte[] data) throws IOException {
    Path path = dir.resolve(name);
    Files.write(path, data);
    return path;
  }

  private static void flip(Path path, long offset) throws IOException {
    try (RandomAccessFile file = new RandomAccessFile(path.toFile(), "rw")) {
      file.seek(offset);
      int value = file.read();
      file.seek(offset);
      file.write(value ^ 0x10);
    }
  }

  @Test
  void theFirstDifferentSectorWhereverItIsInABatch() throws IOException {
    byte[] data = random(24 * MIB, 1);
    Path a = write("a.raw", data);
    Path qcow2 = dir.resolve("b.qcow2");
    try (QcowFile image = QcowFile.create(qcow2, CreateOptions.of(data.length))) {
      image.writeFully(ByteBuffer.wrap(data), 0);
    }
    // the first byte, a range's first and last sector, the middle of the third range of a batch,
    // the last byte of a batch and of the image
    long[] offsets = {0, 2L * MIB, 4L * MIB - 1, 5L * MIB + 700, 8L * MIB - 1, 8L * MIB, 24L * MIB - 1};
    for (long offset : offsets) {
      Path b = write("b.raw", data);
      flip(b, offset);
      if (offset < 20L * MIB) {
        // a later difference too: the first one is reported
        flip(b, 23L * MIB + 5);
      }
      long expected = offset / 512 * 512;
      try (DiskFile first = RawDiskFile.open(a, true); DiskFile second = RawDiskFile.open(b, true);
          DiskFile image = QcowFile.open(qcow2, OpenOptions.readOnlyDefaults())) {
        CompareResult result = ImageCompare.compare(first, second, false, ImageCompare.Progress.NONE);
        assertThat(result.outcome()).as("raw, difference at %d", offset).isEqualTo(CompareResult.Outcome.CONTENT_MISMATCH);
        assertThat(result.offset()).as("raw, difference at %d", offset).isEqualTo(expected);
        result = ImageCompare.compare(image, second, false, ImageCompare.Progress.NONE);
        assertThat(result.offset()).as("qcow2, difference at %d", offset).isEqualTo(expected);
        assertThat(ImageCompare.compare(first, image, false, ImageCompare.Progress.NONE).identical()).isTrue();
      }
    }
  }

  /**
   * The first batch's mapping waits until the last batch has been mapped: the last batch's
   * difference is found first in time, and the first batch's, earlier in the guest, is the answer.
   */
  @Test
  void aLaterBatchThatDiffersFirstInTimeLosesToAnEarlierDifference() throws IOException {
    byte[] data = random(24 * MIB, 2);
    Path a = write("a.raw", data);
    Path b = write("b.raw", data);
    flip(b, 5L * MIB + 700);
    flip(b, 17L * MIB + 3);
    CountDownLatch lastMapped = new CountDownLatch(1);
    List<Long> lengths = Collections.synchronizedList(new ArrayList<>());
    try (DiskFile first = RawDiskFile.open(a, true);
        DiskFile second = new Watched(RawDiskFile.open(b, true), b, (offset) -> {
          if (offset == 0) {
            try {
              lastMapped.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          } else if (offset == 16L * MIB) {
            lastMapped.countDown();
          }
          return true;
        }, lengths)) {
      CompareResult result = ImageCompare.compare(first, second, false, ImageCompare.Progress.NONE);
      assertThat(result.outcome()).isEqualTo(CompareResult.Outcome.CONTENT_MISMATCH);
      assertThat(result.offset()).isEqualTo(5L * MIB + 512);
      // one mapping per batch of four 2 MiB ranges, not one per range
      assertThat(lengths).contains((long) ImageCompare.BATCH_BYTES).doesNotContain(2L * MIB);
    }
  }

  /** Progress reports every range's end in guest order, holes after the batch before them, as range by range. */
  @Test
  void progressReportsEachRangeInOrder() throws IOException {
    byte[] data = random(24 * MIB, 3);
    java.util.Arrays.fill(data, 6 * MIB, 10 * MIB, (byte) 0);
    Path a = write("a.raw", data);
    Path b = dir.resolve("b.raw");
    // b: the same bytes, with a hole where a holds zeros
    try (RandomAccessFile file = new RandomAccessFile(b.toFile(), "rw")) {
      file.setLength(data.length);
      file.seek(0);
      file.write(data, 0, 6 * MIB);
      file.seek(10L * MIB);
      file.write(data, 10 * MIB, 14 * MIB);
    }
    List<Long> reported = new ArrayList<>();
    try (DiskFile first = RawDiskFile.open(a, true); DiskFile second = RawDiskFile.open(b, true)) {
      CompareResult result = ImageCompare.compare(first, second, false, (done, total) -> {
        assertThat(total).isEqualTo(24L * MIB);
        reported.add(done);
      });
      assertThat(result.identical()).isTrue();
      // the expected steps: the same walk range by range, each one's end
      List<Long> expected = new ArrayList<>();
      long offset = 0;
      while (offset < data.length) {
        Extent status1 = first.blockStatus(offset, data.length - offset);
        Extent status2 = second.blockStatus(offset, data.length - offset);
        long chunk = Math.min(status1.length(), status2.length());
        boolean bothZero = status1.zero() && status2.zero();
        boolean read = !bothZero && (status1.present() || status2.present());
        offset += read ? Math.min(chunk, 2 * MIB) : chunk;
        expected.add(offset);
      }
      assertThat(reported).isEqualTo(expected);
      assertThat(reported.get(reported.size() - 1)).isEqualTo(24L * MIB);
    }
  }

  /** A file that shrinks once a batch is mapped: a read error of the batch's first range, as range by range. */
  @Test
  void aFileThatShrinksUnderABatchIsAReadErrorOfItsRange() throws IOException {
    byte[] data = random(24 * MIB, 4);
    Path a = write("a.raw", data);
    Path b = write("b.raw", data);
    try (DiskFile first = new Watched(RawDiskFile.open(a, true), a, offset -> {
          if (offset == 8L * MIB) {
            try (RandomAccessFile file = new RandomAccessFile(a.toFile(), "rw")) {
              file.setLength(8L * MIB + 4096);
            } catch (IOException e) {
              throw new AssertionError(e);
            }
          }
          return true;
        }, new ArrayList<>());
        DiskFile second = RawDiskFile.open(b, true)) {
      assertThatThrownBy(() -> ImageCompare.compare(first, second, false, ImageCompare.Progress.NONE))
          .isInstanceOfSatisfying(CompareException.class, e -> {
            assertThat(e.stage()).isEqualTo(CompareException.Stage.READ);
            assertThat(e.image()).isEqualTo(1);
            // the range of the batch where the mapping ends: 8 MiB + 4 KiB lies in the range at 8 MiB
            assertThat(e.offset()).isEqualTo(8L * MIB);
          });
    }
  }

  /** A raw disk that runs {@code onMapped} with the offset of each mapping made of it, and records their lengths. */
  private static final class Watched extends ForwardingReadOnlyDisk {
    private final LongPredicate onMapped;
    private final List<Long> lengths;

    Watched(DiskFile disk, Path path, LongPredicate onMapped, List<Long> lengths) {
      super(disk, path);
      this.onMapped = onMapped;
      this.lengths = lengths;
    }

    @Override
    public Optional<MemorySegment> mapped(long offset, long length, Arena arena) throws IOException {
      Optional<MemorySegment> mapped = disk.mapped(offset, length, arena);
      lengths.add(length);
      onMapped.test(offset);
      return mapped;
    }
  }
}
