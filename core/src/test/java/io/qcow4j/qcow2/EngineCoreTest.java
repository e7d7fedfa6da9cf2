package io.qcow4j.qcow2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.storage.MemoryStorage;
import io.qcow4j.testing.FaultyStorage;
import io.qcow4j.testing.ImageBytes;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The engine core's mechanisms, each on the smallest workload that shows it: frees released only
 * once their dropping entries are durable, free space found again after a reopen, entries that
 * point where they must not refused with the corrupt bit set.
 */
class EngineCoreTest {
  private static final int CLUSTER = 65536;

  @TempDir Path dir;

  private static ByteBuffer filled(int length, int value) {
    byte[] bytes = new byte[length];
    Arrays.fill(bytes, (byte) value);
    return ByteBuffer.wrap(bytes);
  }

  /**
   * The sequence a backup tool sent through NBD: data written and flushed; one cluster trimmed, a
   * flush, 16 more trimmed; new data written elsewhere without a flush; power cut. Whatever subset
   * of the unflushed writes survives, no trimmed offset may read the new data of another offset.
   */
  @Test
  void trimmedClustersNeverShowDataOfAnotherOffsetAfterACrash() throws IOException {
    FaultyStorage storage = new FaultyStorage("trim.qcow2");
    try (QcowFile image = QcowFile.create(storage, CreateOptions.of(8L << 20))) {
      image.writeFully(filled(32 * CLUSTER, 0x11), 0);
      image.force(false);
      image.discard(0, CLUSTER);
      image.flush();
      image.discard(CLUSTER, 16L * CLUSTER);
      image.writeFully(filled(16 * CLUSTER, 0x22), 64L * CLUSTER);
      FaultyStorage.Replay replay = storage.replay();
      Random random = new Random(7);
      for (int trial = 0; trial < 40; trial++) {
        byte[] survivor = replay.survivorAt(storage.eventCount(), random, random.nextDouble(), FaultyStorage.Tearing.NONE);
        Path file = dir.resolve("survivor.qcow2");
        Files.write(file, survivor);
        try (QcowFile reopened = QcowFile.open(file, OpenOptions.readOnlyDefaults())) {
          ByteBuffer trimmed = ByteBuffer.allocate(17 * CLUSTER);
          reopened.readFully(trimmed, 0);
          for (int offset = 0; offset < trimmed.capacity(); offset++) {
            byte value = trimmed.get(offset);
            assertThat(value == 0 || value == 0x11).as("trial %d, guest offset %d reads 0x%02x", trial, offset, value)
                .isTrue();
          }
          assertThat(reopened.check(CheckResult.Repair.NONE).corruptions()).as("trial %d", trial).isZero();
        }
      }
    }
  }

  @Test
  void clustersFreedInAnEarlierSessionAreReused() throws IOException {
    Path file = dir.resolve("reuse.qcow2");
    try (QcowFile image = QcowFile.create(file, CreateOptions.of(64L << 20))) {
      image.writeFully(filled(8 << 20, 0x33), 0);
    }
    try (QcowFile image = QcowFile.open(file, OpenOptions.readWriteDefaults())) {
      image.discard(0, 8 << 20);
    }
    long sizeAfterDiscard = Files.size(file);
    try (QcowFile image = QcowFile.open(file, OpenOptions.readWriteDefaults())) {
      image.writeFully(filled(8 << 20, 0x44), 32L << 20);
    }
    // The new data went to the freed clusters (at most a new L2 table was added at the end).
    assertThat(Files.size(file)).isLessThanOrEqualTo(sizeAfterDiscard + CLUSTER);
    try (QcowFile image = QcowFile.open(file, OpenOptions.readOnlyDefaults())) {
      ByteBuffer data = ByteBuffer.allocate(8 << 20);
      image.readFully(data, 32L << 20);
      assertThat(data.array()).containsOnly((byte) 0x44);
      ByteBuffer discarded = ByteBuffer.allocate(8 << 20);
      image.readFully(discarded, 0);
      assertThat(discarded.array()).containsOnly((byte) 0);
    }
    QemuTools.in(dir).img("check", "-q", file);
  }

  @Test
  void aDataEntryPointingAtTheL1TableIsRefusedAndMarksTheImageCorrupt() throws IOException {
    Path file = dir.resolve("overlap.qcow2");
    QemuTools tools = QemuTools.in(dir);
    tools.img("create", "-q", "-f", "qcow2", file, "4M");
    tools.io("-c", "write -P 0x55 0 64k", file);
    long l1Offset;
    byte[] l1Before;
    try (ImageBytes bytes = ImageBytes.open(file)) {
      l1Offset = bytes.u64(ImageBytes.L1_TABLE_OFFSET);
      bytes.putU64(bytes.l2EntryOffset(0), ImageBytes.OFLAG_COPIED | l1Offset);
      l1Before = Files.readAllBytes(file);
    }
    try (QcowFile image = QcowFile.open(file, OpenOptions.readWriteDefaults())) {
      assertThatThrownBy(() -> image.writeFully(filled(512, 0x66), 0))
          .isInstanceOf(CorruptImageException.class)
          .hasMessageContaining("overlaps with active L1 table");
      assertThat(image.header().corrupt()).isTrue();
    }
    byte[] after = Files.readAllBytes(file);
    assertThat(Arrays.copyOfRange(after, (int) l1Offset, (int) l1Offset + 512))
        .isEqualTo(Arrays.copyOfRange(l1Before, (int) l1Offset, (int) l1Offset + 512));
  }

  @Test
  void aDataEntryFarPastTheFileIsRefusedWithoutGrowingIt() throws IOException {
    Path file = dir.resolve("far.qcow2");
    QemuTools tools = QemuTools.in(dir);
    tools.img("create", "-q", "-f", "qcow2", file, "4M");
    tools.io("-c", "write -P 0x55 0 64k", file);
    try (ImageBytes bytes = ImageBytes.open(file)) {
      bytes.putU64(bytes.l2EntryOffset(0), ImageBytes.OFLAG_COPIED | (1L << 54));
    }
    long sizeBefore = Files.size(file);
    try (QcowFile image = QcowFile.open(file, OpenOptions.readWriteDefaults())) {
      assertThatThrownBy(() -> image.writeFully(filled(512, 0x66), 0))
          .isInstanceOf(CorruptImageException.class)
          .hasMessageContaining("past the end of the image");
    }
    assertThat(Files.size(file)).isEqualTo(sizeBefore);
  }

  @Test
  void refcountTableEntriesWithReservedBitsAreNamedCorruption() throws IOException {
    Path file = dir.resolve("reftable.qcow2");
    QemuTools.in(dir).img("create", "-q", "-f", "qcow2", file, "4M");
    try (ImageBytes bytes = ImageBytes.open(file)) {
      long table = bytes.u64(ImageBytes.REFCOUNT_TABLE_OFFSET);
      bytes.putU64(table, bytes.u64(table) | (1L << 63) | 1);
    }
    assertThatThrownBy(() -> {
      try (QcowFile image = QcowFile.open(file, OpenOptions.readWriteDefaults())) {
        image.writeFully(filled(CLUSTER, 1), 0);
        image.flush();
      }
    }).isInstanceOf(CorruptImageException.class).hasMessageContaining("refcount table entry 0");
  }

  @Test
  void aZeroFlagInAVersion2ImageIsCorruption() throws IOException {
    Path file = dir.resolve("v2.qcow2");
    QemuTools tools = QemuTools.in(dir);
    tools.img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", file, "4M");
    tools.io("-c", "write -P 0x55 0 64k", file);
    try (ImageBytes bytes = ImageBytes.open(file)) {
      long entryOffset = bytes.l2EntryOffset(0);
      bytes.putU64(entryOffset, bytes.u64(entryOffset) | ImageBytes.OFLAG_ZERO);
    }
    try (QcowFile image = QcowFile.open(file, OpenOptions.readOnlyDefaults())) {
      assertThatThrownBy(() -> image.readFully(ByteBuffer.allocate(512), 0))
          .isInstanceOf(CorruptImageException.class).hasMessageContaining("zero flag set in a version 2 image");
    }
  }

  @Test
  void anExternalDataFileEntryMustMapTheGuestOffsetItself() throws IOException {
    Path file = dir.resolve("data.qcow2");
    QemuTools tools = QemuTools.in(dir);
    tools.img("create", "-q", "-f", "qcow2", "-o", "data_file=" + dir.resolve("data.raw"), file, "4M");
    tools.io("-c", "write -P 0x55 0 128k", file);
    try (ImageBytes bytes = ImageBytes.open(file)) {
      bytes.putU64(bytes.l2EntryOffset(0), ImageBytes.OFLAG_COPIED | CLUSTER);
    }
    try (QcowFile image = QcowFile.open(file, OpenOptions.readWriteDefaults())) {
      assertThatThrownBy(() -> image.writeFully(filled(512, 0x66), 0))
          .isInstanceOf(CorruptImageException.class)
          .hasMessageContaining("does not match guest cluster offset");
      assertThat(image.header().corrupt()).isTrue();
    }
  }

  @Test
  void epochsWaitOnlyForEarlierIo() throws Exception {
    InFlightIo io = new InFlightIo();
    long early = io.enter();
    Thread waiter = Thread.ofPlatform().start(io::awaitEarlier);
    Thread.sleep(50);
    assertThat(waiter.isAlive()).isTrue();
    // I/O that starts now is not waited for.
    long late = io.enter();
    io.exit(early);
    waiter.join(5000);
    assertThat(waiter.isAlive()).isFalse();
    io.exit(late);
  }

  @Test
  void aCopyOfTheDirtySetIsWrittenWhileWritersGoOn() throws IOException {
    MemoryStorage storage = new MemoryStorage("copy.qcow2");
    try (QcowFile image = QcowFile.create(storage, CreateOptions.of(8L << 20).withClusterSize(4096))) {
      for (int index = 0; index < 64; index++) {
        image.writeFully(filled(4096, index), (long) index * 8192);
        if (index % 7 == 0) {
          image.flush();
        }
      }
      CheckResult result = image.check(CheckResult.Repair.NONE);
      assertThat(result.corruptions()).isZero();
      assertThat(result.leaks()).isZero();
    }
  }

  /** A snapshot dirties more refcount blocks than the cache holds: none of the changes may be dropped. */
  @Test
  void refcountBlocksBeyondTheCacheBudgetKeepTheirChanges() throws IOException {
    Path file = dir.resolve("blocks.qcow2");
    try (QcowFile image = QcowFile.create(file, CreateOptions.of(8L << 20).withClusterSize(512))) {
      image.writeFully(filled(4 << 20, 0x21), 0);
    }
    try (QcowFile image = QcowFile.open(file, OpenOptions.readWriteDefaults().withCacheBytes(8192))) {
      image.createSnapshot("many-blocks");
      image.writeFully(filled(65536, 0x22), 0);
      CheckResult result = image.check(CheckResult.Repair.NONE);
      assertThat(result.corruptions()).isZero();
      assertThat(result.leaks()).isZero();
    }
    QemuTools.in(dir).img("check", "-q", file);
  }

  @Test
  void aSnapshotRefusedAtTheRefcountLimitLeaksOnlyTheL1CopyAsQemuDoes() throws IOException {
    Path file = dir.resolve("limit.qcow2");
    try (QcowFile image = QcowFile.create(file, CreateOptions.of(1L << 20).withRefcountBits(1))) {
      image.writeFully(filled(256 << 10, 0x23), 0);
      long end = image.storage().size();
      assertThatThrownBy(() -> image.createSnapshot("too-many-references"))
          .isInstanceOf(io.qcow4j.disk.RefcountOverflowException.class);
      // qcow2_snapshot_create allocates the L1 copy before the references overflow and leaks it
      CheckResult result = image.check(CheckResult.Repair.NONE);
      assertThat(result.corruptions()).isZero();
      assertThat(result.messages()).containsExactly(
          "Leaked cluster " + end / (64 << 10) + " refcount=1 reference=0");
      assertThat(image.check(CheckResult.Repair.LEAKS).leaksFixed()).isEqualTo(1);
    }
    QemuTools.in(dir).img("check", "-q", file);
  }

  @Test
  void snapshotsOfAnImageWithAnExternalDataFileAreRefusedAsQemuRefusesThem() throws IOException {
    Path file = dir.resolve("withdata.qcow2");
    QemuTools.in(dir).img("create", "-q", "-f", "qcow2", "-o", "data_file=" + dir.resolve("withdata.raw"), file, "1M");
    try (QcowFile image = QcowFile.open(file, OpenOptions.readWriteDefaults())) {
      assertThatThrownBy(() -> image.createSnapshot("s"))
          .isInstanceOf(io.qcow4j.disk.UnsupportedFeatureException.class)
          .hasMessageContaining("external data file");
      assertThat(image.snapshots()).isEmpty();
    }
    QemuTools.in(dir).img("check", "-q", file);
  }
}
