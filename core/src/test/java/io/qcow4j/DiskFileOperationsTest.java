package io.qcow4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.AmendOptions;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.Compat;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.SnapshotInfo;
import io.qcow4j.disk.UnsupportedFeatureException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The image-wide operations (snapshots, check, amend, unmapping write-zeroes, the fast-zero promise)
 * reached through {@link DiskFile} alone, as a library user holds an image: qcow2 performs them, raw
 * refuses them with qemu-img's words.
 */
class DiskFileOperationsTest {
  @TempDir Path dir;

  @Test
  void qcow2SnapshotsCheckAndAmendThroughDiskFile() throws IOException {
    Path file = dir.resolve("disk.qcow2");
    DiskImages.create(file, ImageFormat.QCOW2, CreateOptions.of(4 << 20)).close();
    try (DiskFile disk = DiskImages.open(file, OpenOptions.readWriteDefaults())) {
      assertThat(disk.hasFastZeroes()).isTrue();
      disk.writeFully(ByteBuffer.wrap(new byte[] {7}), 0);
      SnapshotInfo created = disk.createSnapshot("before");
      assertThat(created.name()).isEqualTo("before");
      assertThat(created.id()).isEqualTo("1");
      assertThat(created.diskSize()).isEqualTo(4 << 20);
      assertThat(disk.snapshots()).containsExactly(created);
      assertThat(disk.info().qcow2().snapshots()).containsExactly(created);

      disk.writeZeroesUnmap(0, 64 << 10);
      assertThat(readByte(disk, 0)).isZero();
      disk.applySnapshot("before");
      assertThat(readByte(disk, 0)).isEqualTo((byte) 7);
      assertThatThrownBy(() -> disk.applySnapshot("missing")).isInstanceOf(NoSuchFileException.class);
      disk.deleteSnapshot("1");
      assertThat(disk.snapshots()).isEmpty();

      assertThat(disk.check(CheckResult.Repair.NONE).exitStatus()).isZero();
      disk.amend(AmendOptions.none().withCompat(Compat.V2));
      assertThat(disk.info().qcow2().version()).isEqualTo(2);
      assertThat(disk.hasFastZeroes()).as("a version 2 image has no zero flag").isFalse();
    }
  }

  @Test
  void rawRefusesWithQemuWords() throws IOException {
    Path file = dir.resolve("disk.raw");
    Files.write(file, new byte[1 << 20]);
    String name = file.toString();
    try (DiskFile disk = DiskImages.open(file, OpenOptions.readWriteDefaults().withFormat(ImageFormat.RAW))) {
      assertThat(disk.hasFastZeroes()).isTrue();
      assertThat(disk.snapshots()).isEmpty();
      assertThatThrownBy(() -> disk.createSnapshot("s1")).isInstanceOf(UnsupportedFeatureException.class)
          .hasMessage(name + ": Operation not supported");
      assertThatThrownBy(() -> disk.applySnapshot("s1")).isInstanceOf(UnsupportedFeatureException.class)
          .hasMessage(name + ": Block driver does not support snapshots");
      assertThatThrownBy(() -> disk.deleteSnapshot("s1")).isInstanceOf(NoSuchFileException.class)
          .hasMessageContaining("snapshot 's1' not found");
      assertThatThrownBy(() -> disk.check(CheckResult.Repair.NONE)).isInstanceOf(UnsupportedFeatureException.class)
          .hasMessage(name + ": This image format does not support checks");
      assertThatThrownBy(() -> disk.amend(AmendOptions.none().withSize(2L << 20)))
          .isInstanceOf(UnsupportedFeatureException.class)
          .hasMessage(name + ": Format driver 'raw' does not support option amendment");

      disk.writeFully(ByteBuffer.wrap(new byte[] {7}), 4096);
      disk.writeZeroesUnmap(0, 8192);
      assertThat(readByte(disk, 4096)).isZero();
    }
  }

  private static byte readByte(DiskFile disk, long position) throws IOException {
    ByteBuffer one = ByteBuffer.allocate(1);
    disk.readFully(one, position);
    return one.get(0);
  }
}
