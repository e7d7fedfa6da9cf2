package io.qcow4j.ops;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.ForwardingReadOnlyDisk;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.RawDiskFile;
import io.qcow4j.qcow2.QcowFile;
import java.io.IOException;
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
 * Convert into an image walks the source's block status as qemu-img's convert_iteration_sectors
 * does: one query per extent, the extent kept until the walk passes its end, however many 2 MiB
 * chunks it is cut into; the copy is the source's content.
 */
class ConvertStatusWalkTest {
  private static final int MIB = 1 << 20;
  @TempDir Path dir;

  @Test
  void oneBlockStatusQueryPerExtentNotPerChunk() throws IOException {
    // 8 MiB of data, a 4 MiB hole, 6 MiB of data: three extents, seven data chunks
    byte[] data = new byte[18 * MIB];
    Random random = new Random(5);
    byte[] block = new byte[MIB];
    for (int i = 0; i < 18; i++) {
      if (i < 8 || i >= 12) {
        random.nextBytes(block);
        System.arraycopy(block, 0, data, i * MIB, MIB);
      }
    }
    Path raw = dir.resolve("source.raw");
    try (FileChannel channel = FileChannel.open(raw, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      channel.write(ByteBuffer.wrap(data, 0, 8 * MIB), 0);
      channel.write(ByteBuffer.wrap(data, 12 * MIB, 6 * MIB), 12L * MIB);
    }
    Path qcow2 = dir.resolve("target.qcow2");
    List<Long> queried = new ArrayList<>();
    try (DiskFile source = new Counted(RawDiskFile.open(raw, true), raw, queried);
        QcowFile target = QcowFile.create(qcow2, CreateOptions.of(data.length))) {
      ImageConvert.toImage(List.of(source), target, ImageConvert.Options.defaults(), ImageConvert.Progress.NONE);
      byte[] copy = new byte[data.length];
      target.readFully(ByteBuffer.wrap(copy), 0);
      assertThat(copy).isEqualTo(data);
    }
    // a file system that reports no holes makes it one extent
    assertThat(queried).as("the offsets queried").isIn(List.of(0L, 8L * MIB, 12L * MIB), List.of(0L));
  }

  /** A raw disk that records the offset of each block status query. */
  private static final class Counted extends ForwardingReadOnlyDisk {
    private final List<Long> queried;

    Counted(DiskFile disk, Path path, List<Long> queried) {
      super(disk, path);
      this.queried = queried;
    }

    @Override
    public Extent blockStatus(long offset, long maxLength) throws IOException {
      queried.add(offset);
      return disk.blockStatus(offset, maxLength);
    }
  }
}
