package io.qcow4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.RawDiskFile;
import io.qcow4j.ops.CompareException;
import io.qcow4j.ops.CompareResult;
import io.qcow4j.ops.ImageCompare;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.storage.MemoryStorage;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link DiskFile#mapped}: a range comes back mapped only where the host file keeps it byte for
 * byte, and then holds what a read gives; compare reads through it and turns a fault of a file
 * that shrank into a read error.
 */
class MappedRangeTest {
  private static final int CLUSTER = 65536;
  @TempDir Path dir;

  private static byte[] random(int length, long seed) {
    byte[] bytes = new byte[length];
    new Random(seed).nextBytes(bytes);
    return bytes;
  }

  private static byte[] read(DiskFile disk, long offset, int length) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(length);
    disk.readFully(buffer, offset);
    return buffer.array();
  }

  private static byte[] bytes(MemorySegment segment) {
    return segment.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
  }

  @Test
  void rawFileMapsWhatItReadsInsideTheFileOnly() throws IOException {
    Path path = dir.resolve("disk.raw");
    byte[] data = random(3 * CLUSTER, 1);
    Files.write(path, data);
    // 100 bytes more: the disk is rounded up to a sector, whose tail past the file reads as zeros
    try (RandomAccessFile file = new RandomAccessFile(path.toFile(), "rw")) {
      file.setLength(3 * CLUSTER + 100);
    }
    try (DiskFile disk = RawDiskFile.open(path, true); Arena arena = Arena.ofConfined()) {
      Optional<MemorySegment> middle = disk.mapped(1000, CLUSTER, arena);
      assertThat(middle).isPresent();
      assertThat(bytes(middle.get())).isEqualTo(read(disk, 1000, CLUSTER));
      assertThat(disk.mapped(3 * CLUSTER, 100, arena)).isPresent();
      assertThat(disk.mapped(3 * CLUSTER, 512, arena)).as("the zero tail past the end of the file").isEmpty();
      assertThat(disk.mapped(-1, 10, arena)).isEmpty();
      assertThat(disk.mapped(0, 0, arena)).isEmpty();
    }
  }

  @Test
  void rawDiskOverMemoryMapsNothing() throws IOException {
    MemoryStorage storage = new MemoryStorage("memory");
    storage.truncate(CLUSTER);
    try (DiskFile disk = new RawDiskFile(storage, null); Arena arena = Arena.ofConfined()) {
      assertThat(disk.mapped(0, 4096, arena)).isEmpty();
    }
  }

  @Test
  void qcow2MapsContiguousDataClustersOfAReadOnlyImage() throws IOException {
    Path path = dir.resolve("disk.qcow2");
    byte[] first = random(2 * CLUSTER, 2);
    byte[] later = random(CLUSTER, 3);
    try (QcowFile image = QcowFile.create(path, CreateOptions.of(16L * CLUSTER))) {
      image.writeFully(ByteBuffer.wrap(first), 0); // clusters 0 and 1, allocated in turn
      image.writeFully(ByteBuffer.wrap(later), 5L * CLUSTER); // cluster 5 after them on the host
      image.writeFully(ByteBuffer.wrap(random(CLUSTER, 4)), 3L * CLUSTER); // 3 after 5: not contiguous
      image.writeZeroes(7L * CLUSTER, CLUSTER);
      try (Arena arena = Arena.ofConfined()) {
        assertThat(image.mapped(0, CLUSTER, arena)).as("an image open for writing").isEmpty();
      }
    }
    try (QcowFile image = QcowFile.open(path, OpenOptions.readOnlyDefaults()); Arena arena = Arena.ofConfined()) {
      Optional<MemorySegment> run = image.mapped(100, 2 * CLUSTER - 200, arena);
      assertThat(run).isPresent();
      assertThat(bytes(run.get())).isEqualTo(read(image, 100, 2 * CLUSTER - 200));
      assertThat(bytes(image.mapped(5L * CLUSTER, CLUSTER, arena).orElseThrow())).isEqualTo(later);
      assertThat(image.mapped(CLUSTER, 2 * CLUSTER, arena)).as("data then unallocated").isEmpty();
      assertThat(image.mapped(3L * CLUSTER, 3 * CLUSTER, arena)).as("data not contiguous on the host").isEmpty();
      assertThat(image.mapped(7L * CLUSTER, CLUSTER, arena)).as("a zero cluster").isEmpty();
      assertThat(image.mapped(9L * CLUSTER, CLUSTER, arena)).as("an unallocated cluster").isEmpty();
      assertThat(image.mapped(15L * CLUSTER, 2 * CLUSTER, arena)).as("past the end of the disk").isEmpty();
    }
  }

  /**
   * qemu-img writes the other formats from a raw image of data, zeros and a hole; each 256 KiB
   * range that comes back mapped holds what a read gives, and the data ranges do come back mapped
   * (a vpc block's sector bitmap sits between blocks: ranges across blocks do not).
   */
  @ParameterizedTest
  @ValueSource(strings = {"vmdk", "vhdx", "vpc", "vdi", "qcow2"})
  void otherFormatsMapTheirDataAsTheyReadIt(String format) throws IOException {
    Path raw = dir.resolve("source.raw");
    byte[] data = new byte[16 << 20];
    new Random(9).nextBytes(data);
    java.util.Arrays.fill(data, 4 << 20, 8 << 20, (byte) 0);
    Files.write(raw, data);
    try (RandomAccessFile file = new RandomAccessFile(raw.toFile(), "rw")) {
      file.setLength(24 << 20); // a hole at the end
    }
    Path image = dir.resolve("image." + format);
    var result = io.qcow4j.testing.QemuTools.qemuImg("convert", "-f", "raw", "-O", format, raw, image);
    assertThat(result.exitCode()).as(result.describe()).isZero();
    int chunk = 256 << 10;
    int mappedChunks = 0;
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults()); Arena arena = Arena.ofConfined()) {
      for (long offset = 0; offset + chunk <= (24 << 20); offset += chunk) {
        Optional<MemorySegment> mapped = disk.mapped(offset, chunk, arena);
        if (mapped.isPresent()) {
          mappedChunks++;
          assertThat(bytes(mapped.get())).as("%s at %d", format, offset).isEqualTo(read(disk, offset, chunk));
        }
      }
    }
    assertThat(mappedChunks).as(format).isGreaterThanOrEqualTo(8);
  }

  @Test
  void compareThroughMappingsFindsTheFirstDifferentSector() throws IOException {
    Path raw = dir.resolve("a.raw");
    Path qcow2 = dir.resolve("b.qcow2");
    byte[] data = random(8 * CLUSTER, 5);
    Files.write(raw, data);
    try (QcowFile image = QcowFile.create(qcow2, CreateOptions.of(data.length))) {
      image.writeFully(ByteBuffer.wrap(data), 0);
    }
    try (DiskFile a = RawDiskFile.open(raw, true); DiskFile b = QcowFile.open(qcow2, OpenOptions.readOnlyDefaults())) {
      assertThat(ImageCompare.compare(a, b, false, ImageCompare.Progress.NONE).outcome())
          .isEqualTo(CompareResult.Outcome.IDENTICAL);
    }
    try (RandomAccessFile file = new RandomAccessFile(raw.toFile(), "rw")) {
      file.seek(6L * CLUSTER + 1234);
      file.write(data[6 * CLUSTER + 1234] ^ 1);
    }
    try (DiskFile a = RawDiskFile.open(raw, true); DiskFile b = QcowFile.open(qcow2, OpenOptions.readOnlyDefaults())) {
      CompareResult result = ImageCompare.compare(b, a, false, ImageCompare.Progress.NONE);
      assertThat(result.outcome()).isEqualTo(CompareResult.Outcome.CONTENT_MISMATCH);
      assertThat(result.offset()).isEqualTo(6L * CLUSTER + 1024);
    }
  }

  @Test
  void aMappedFileThatShrinksIsAReadError() throws IOException {
    Path path = dir.resolve("shrinks.raw");
    Path other = dir.resolve("other.raw");
    byte[] data = random(4 * CLUSTER, 6);
    Files.write(path, data);
    Files.write(other, data);
    try (DiskFile shrinking = new ShrinksWhenMapped(RawDiskFile.open(path, true), path);
        DiskFile second = RawDiskFile.open(other, true)) {
      assertThatThrownBy(() -> ImageCompare.compare(shrinking, second, false, ImageCompare.Progress.NONE))
          .isInstanceOfSatisfying(CompareException.class, e -> {
            assertThat(e.stage()).isEqualTo(CompareException.Stage.READ);
            assertThat(e.image()).isEqualTo(1);
            assertThat(e.offset()).isZero();
          });
    }
  }

  /** A raw disk whose file is cut to one page as soon as a range of it is mapped. */
  private static final class ShrinksWhenMapped extends ForwardingReadOnlyDisk {
    ShrinksWhenMapped(DiskFile disk, Path path) {
      super(disk, path);
    }

    @Override
    public Optional<MemorySegment> mapped(long offset, long length, Arena arena) throws IOException {
      Optional<MemorySegment> mapped = disk.mapped(offset, length, arena);
      try (RandomAccessFile file = new RandomAccessFile(path.toFile(), "rw")) {
        file.setLength(4096);
      }
      return mapped;
    }

    @Override
    public Extent blockStatus(long offset, long maxLength) throws IOException {
      // data throughout, as the file was when opened
      long length = Math.min(maxLength, size() - offset);
      return new Extent(offset, length, 0, true, false, true, false, offset, path);
    }
  }
}
