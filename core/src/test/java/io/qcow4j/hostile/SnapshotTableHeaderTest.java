package io.qcow4j.hostile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The snapshot table fields of the header are checked at open as QEMU 7.2 checks them
 * (qcow2_validate_table, iotest 080): an unaligned or overflowing snapshots_offset is refused even
 * with no snapshots, more than 65536 entries is refused, and a table past the end of the file opens,
 * its entries read as zeros, where we used to refuse it.
 */
class SnapshotTableHeaderTest {
  private static final int NB_SNAPSHOTS = 60;
  private static final int SNAPSHOTS_OFFSET = 64;

  @TempDir Path directory;

  @Test
  void anUnalignedSnapshotsOffsetWithNoSnapshotsIsRefusedAsQemuRefusesIt() throws IOException {
    Path image = image();
    poke(image, SNAPSHOTS_OFFSET, 0x1234567890abcdefL);
    assertThatThrownBy(() -> QcowFile.open(image, OpenOptions.readOnlyDefaults()))
        .isInstanceOf(CorruptImageException.class)
        .hasMessage(image + ": Snapshot table offset invalid");
    assertThat(qemuOpenError(image)).endsWith(": Snapshot table offset invalid");
  }

  @Test
  void aSnapshotsOffsetWithoutRoomBelow2Pow63IsRefused() throws IOException {
    Path image = image();
    poke(image, SNAPSHOTS_OFFSET, 0xffffffffffff0000L);
    pokeInt(image, NB_SNAPSHOTS, 0xffff);
    assertThatThrownBy(() -> QcowFile.open(image, OpenOptions.readOnlyDefaults()))
        .isInstanceOf(CorruptImageException.class)
        .hasMessage(image + ": Snapshot table offset invalid");
    assertThat(qemuOpenError(image)).endsWith(": Snapshot table offset invalid");
  }

  @Test
  void moreThan65536SnapshotsAreRefused() throws IOException {
    Path image = image();
    pokeInt(image, NB_SNAPSHOTS, 0x7fffffff);
    assertThatThrownBy(() -> QcowFile.open(image, OpenOptions.readOnlyDefaults()))
        .isInstanceOf(ImageLimitException.class)
        .hasMessage(image + ": Snapshot table too large");
    assertThat(qemuOpenError(image)).endsWith(": Snapshot table too large");
  }

  @Test
  void aSnapshotTablePastTheEndOfTheFileOpensAndReadsAsZeros() throws IOException {
    Path image = image();
    poke(image, SNAPSHOTS_OFFSET, 0x1_0000_0000L);
    pokeInt(image, NB_SNAPSHOTS, 0x10000);
    QemuTools.qemuIo("-c", "read -P 0 0 64k", image);
    try (QcowFile qcow = QcowFile.open(image, OpenOptions.readOnlyDefaults())) {
      assertThat(qcow.info().qcow2().snapshots()).hasSize(0x10000)
          .allSatisfy(snapshot -> assertThat(snapshot.name()).isEmpty());
      ByteBuffer data = ByteBuffer.allocate(65536);
      qcow.readFully(data, 0);
      assertThat(data.array()).containsOnly((byte) 0);
    }
  }

  private Path image() {
    Path image = directory.resolve("snapshots.qcow2");
    QemuTools.qemuImg("create", "-q", "-f", "qcow2", image, "1M");
    return image;
  }

  private static String qemuOpenError(Path image) {
    QemuTools.Result result = QemuTools.in(null).run(QemuTools.DEFAULT_TIMEOUT, "qemu-io", "-c", "read 0 512", image);
    assertThat(result.exitCode()).isNotZero();
    return result.stderr().strip();
  }

  private static void poke(Path image, long offset, long value) throws IOException {
    try (FileChannel channel = FileChannel.open(image, StandardOpenOption.WRITE)) {
      channel.write(ByteBuffer.allocate(8).putLong(0, value), offset);
    }
  }

  private static void pokeInt(Path image, long offset, int value) throws IOException {
    try (FileChannel channel = FileChannel.open(image, StandardOpenOption.WRITE)) {
      channel.write(ByteBuffer.allocate(4).putInt(0, value), offset);
    }
  }
}
