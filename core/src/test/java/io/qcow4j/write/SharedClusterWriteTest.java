package io.qcow4j.write;

import io.qcow4j.testing.Discards;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.EngineAccess;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.qcow2.format.Snapshot;
import io.qcow4j.testing.ImageBytes;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Writes into clusters this image does not own alone: clusters shared with internal snapshots made
 * by qemu-img (copy-on-write, COPIED flag), compressed clusters made by qemu-img convert -c, and
 * zero clusters that keep their host cluster (qemu-io write -z).
 */
class SharedClusterWriteTest {
  private static final long SIZE = 8 << 20;

  @TempDir Path dir;

  /** Two snapshots and the active image share clusters (refcount 3), and restoring adds one: 2-bit refcounts cannot. */
  static Stream<Arguments> snapshotRuns() {
    return Stream.of("cluster_size=65536", "cluster_size=4096", "cluster_size=65536,refcount_bits=4",
            "cluster_size=65536,extended_l2=on", "cluster_size=4096,compat=0.10")
        .flatMap(options -> WriteTesting.seeds("snapshot " + options, 1, 5).stream()
            .map(seed -> Arguments.of(options, seed)));
  }

  /** Writes, zeroes and discards over clusters shared with a snapshot; the snapshot still restores exactly. */
  @ParameterizedTest(name = "{0} seed={1}")
  @MethodSource("snapshotRuns")
  void writesCopyClustersSharedWithSnapshots(String createOptions, long seed) throws IOException {
    String context = createOptions + " seed=" + seed + " (replay with -DQCOW4J_SEED=" + seed
        + " -Dtest=SharedClusterWriteTest)";
    Random random = new Random(seed);
    QemuTools tools = QemuTools.in(dir);
    Path image = dir.resolve("snap.qcow2");
    tools.img("create", "-q", "-f", "qcow2", "-o", createOptions, image, SIZE);
    DiskModel model = new DiskModel(SIZE);
    List<Object> writes = new ArrayList<>(List.of("-f", "qcow2"));
    for (int index = 0; index < 10; index++) {
      long offset = random.nextLong(SIZE / 512 - 1024) * 512;
      int length = 512 * (1 + random.nextInt(1024));
      int pattern = 1 + random.nextInt(255);
      writes.add("-c");
      writes.add("write -P " + pattern + " " + offset + " " + length);
      byte[] data = new byte[length];
      java.util.Arrays.fill(data, (byte) pattern);
      model.write(offset, data);
    }
    writes.add(image);
    tools.io(writes.toArray());
    tools.img("snapshot", "-c", "first", image);
    byte[] first = model.snapshot();
    boolean extendedL2 = createOptions.contains("extended_l2=on");
    int clusterSize = createOptions.contains("4096") ? 4096 : 65536;

    TreeSet<Long> writtenClusters = new TreeSet<>();
    List<String> history = new ArrayList<>();
    try {
      if (!extendedL2) {
        assertSharedBeforeWriting(image, model, clusterSize);
      }
      try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
        randomChanges(disk, model, random, clusterSize, 30, writtenClusters, history);
        model.assertWholeDisk(disk, "our reads after writing over the snapshot");
      }
      if (!extendedL2) {
        assertCopiedAfterWriting(image, writtenClusters, clusterSize);
      }
      WriteTesting.assertCheckClean(image, "after our writes over a snapshot");
      WriteTesting.assertSameAsModel(image, model, "after our writes over a snapshot");

      // A second snapshot, taken by qemu-img over our clusters, then more of our writes.
      tools.img("snapshot", "-c", "second", image);
      byte[] second = model.snapshot();
      try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
        randomChanges(disk, model, random, clusterSize, 20, new TreeSet<>(), history);
      }
      WriteTesting.assertCheckClean(image, "after writes over the second snapshot");
      WriteTesting.assertSameAsModel(image, model, "after writes over the second snapshot");

      assertSnapshotRestores(tools, image, "first", first);
      assertSnapshotRestores(tools, image, "second", second);
    } catch (AssertionError | IOException e) {
      throw new AssertionError(context + "\nhistory:\n  " + String.join("\n  ", history) + "\n" + e, e);
    }
  }

  private void assertSnapshotRestores(QemuTools tools, Path image, String snapshot, byte[] expected) throws IOException {
    Path copy = dir.resolve("restored-" + snapshot + ".qcow2");
    Files.copy(image, copy, StandardCopyOption.REPLACE_EXISTING);
    tools.img("snapshot", "-a", snapshot, copy);
    WriteTesting.assertCheckClean(copy, "after qemu-img snapshot -a " + snapshot);
    WriteTesting.assertSameAsModel(copy, new DiskModel(expected), "snapshot '" + snapshot + "' restored by qemu-img");
  }

  private static void randomChanges(QcowFile disk, DiskModel model, Random random, int clusterSize, int count,
      TreeSet<Long> writtenClusters, List<String> history) throws IOException {
    for (int index = 0; index < count; index++) {
      long offset = random.nextBoolean() ? random.nextLong(SIZE / clusterSize) * clusterSize : random.nextLong(SIZE - 1);
      long length = Math.min(SIZE - offset, 1 + random.nextInt(3 * clusterSize));
      int kind = random.nextInt(10);
      if (kind < 6) {
        byte[] data = WriteTesting.data(random, (int) length);
        history.add("write " + offset + " +" + length);
        disk.writeFully(ByteBuffer.wrap(data), offset);
        model.write(offset, data);
        for (long cluster = offset / clusterSize; cluster * clusterSize < offset + length; cluster++) {
          writtenClusters.add(cluster);
        }
      } else if (kind < 7) {
        history.add("writeZeroes " + offset + " +" + length);
        disk.writeZeroes(offset, length);
        model.zero(offset, length);
      } else if (kind < 8) {
        history.add("writeZeroesUnmap " + offset + " +" + length);
        disk.writeZeroesUnmap(offset, length);
        model.zero(offset, length);
      } else if (kind < 9) {
        history.add("discard " + offset + " +" + length);
        long[] zeroed = Discards.zeroedRange(disk, offset, length);
        disk.discard(offset, length);
        model.zero(zeroed[0], zeroed[1] - zeroed[0]);
      } else {
        history.add("allocate " + offset + " +" + length);
        disk.allocate(offset, length);
      }
      // Later zeroing or discarding may have dropped the cluster again; only the last data write counts.
      if (kind >= 6 && kind < 9) {
        for (long cluster = offset / clusterSize; cluster * clusterSize < offset + length; cluster++) {
          writtenClusters.remove(cluster);
        }
      }
    }
  }

  /** What qemu-img snapshot -c leaves: every data cluster shared (refcount 2), so COPIED is clear. */
  private static void assertSharedBeforeWriting(Path image, DiskModel model, int clusterSize) throws IOException {
    try (ImageBytes bytes = ImageBytes.open(image)) {
      for (long guest = 0; guest < SIZE; guest += clusterSize) {
        long entry = l2Entry(bytes, guest);
        if (entry != 0) {
          assertEquals(0, entry & ImageBytes.OFLAG_COPIED,
              "COPIED must be clear on a cluster shared with a snapshot (guest offset " + guest + ")");
        }
      }
    }
  }

  /** Every cluster our writes touched last owns a host cluster of its own: COPIED, not the snapshot's. */
  private static void assertCopiedAfterWriting(Path image, TreeSet<Long> writtenClusters, int clusterSize)
      throws IOException {
    Snapshot snapshot;
    try (QcowFile file = QcowFile.open(image, OpenOptions.readOnlyDefaults())) {
      snapshot = EngineAccess.snapshotTable(file).getFirst();
    }
    try (ImageBytes bytes = ImageBytes.open(image)) {
      for (long cluster : writtenClusters) {
        long guest = cluster * clusterSize;
        long entry = l2Entry(bytes, guest);
        assertTrue((entry & ImageBytes.OFLAG_COPIED) != 0,
            "a cluster we wrote (guest offset " + guest + ") has COPIED clear: entry 0x" + Long.toHexString(entry));
        long snapshotEntry = snapshotL2Entry(bytes, snapshot, guest, clusterSize);
        if ((snapshotEntry & ImageBytes.OFFSET_MASK) != 0) {
          assertNotEquals(snapshotEntry & ImageBytes.OFFSET_MASK, entry & ImageBytes.OFFSET_MASK,
              "a cluster we wrote (guest offset " + guest + ") still uses the snapshot's host cluster");
        }
      }
    }
  }

  private static long l2Entry(ImageBytes bytes, long guest) throws IOException {
    try {
      return bytes.u64(bytes.l2EntryOffset(guest));
    } catch (IllegalStateException noTable) {
      return 0;
    }
  }

  private static long snapshotL2Entry(ImageBytes bytes, Snapshot snapshot, long guest, int clusterSize)
      throws IOException {
    long entriesPerTable = clusterSize / 8;
    long guestCluster = guest / clusterSize;
    long l1Index = guestCluster / entriesPerTable;
    if (l1Index >= snapshot.l1Size()) {
      return 0;
    }
    long l2Table = bytes.u64(snapshot.l1TableOffset() + 8 * l1Index) & ImageBytes.OFFSET_MASK;
    return l2Table == 0 ? 0 : bytes.u64(l2Table + 8 * (guestCluster % entriesPerTable));
  }

  // ---------------------------------------------------------------- compressed clusters

  static Stream<Arguments> compressedRuns() {
    return Stream.of("compression_type=zlib", "compression_type=zstd", "compression_type=zlib,cluster_size=4096",
            "compression_type=zstd,extended_l2=on", "compat=0.10")
        .flatMap(options -> WriteTesting.seeds("compressed " + options, 1, 5).stream()
            .map(seed -> Arguments.of(options, seed)));
  }

  /** Partial writes, zeroing and discards over compressed clusters made by qemu-img convert -c. */
  @ParameterizedTest(name = "{0} seed={1}")
  @MethodSource("compressedRuns")
  void writesOverCompressedClusters(String createOptions, long seed) throws IOException {
    String context = createOptions + " seed=" + seed + " (replay with -DQCOW4J_SEED=" + seed
        + " -Dtest=SharedClusterWriteTest)";
    Random random = new Random(seed);
    byte[] content = new byte[(int) SIZE];
    // Compressible data (runs of few values) with some zero stretches, so that convert -c compresses it.
    for (int offset = 0; offset < content.length; offset += 512) {
      if (random.nextInt(8) != 0) {
        java.util.Arrays.fill(content, offset, offset + 512, (byte) random.nextInt(4));
        content[offset + random.nextInt(512)] = (byte) random.nextInt(256);
      }
    }
    Path raw = dir.resolve("source.raw");
    Files.write(raw, content);
    Path image = dir.resolve("compressed.qcow2");
    QemuTools.in(dir).img("convert", "-q", "-c", "-f", "raw", "-O", "qcow2", "-o", createOptions, raw, image);
    DiskModel model = new DiskModel(content);
    int clusterSize = createOptions.contains("4096") ? 4096 : 65536;
    List<String> history = new ArrayList<>();
    try {
      try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
        model.assertWholeDisk(disk, "the compressed image before our writes");
        randomChanges(disk, model, random, clusterSize, 40, new TreeSet<>(), history);
        model.assertWholeDisk(disk, "our reads after writing over compressed clusters");
      }
      WriteTesting.assertCheckClean(image, "after writes over compressed clusters");
      WriteTesting.assertSameAsModel(image, model, "after writes over compressed clusters");
    } catch (AssertionError | IOException e) {
      throw new AssertionError(context + "\nhistory:\n  " + String.join("\n  ", history) + "\n" + e, e);
    }
  }

  // ---------------------------------------------------------------- zero clusters with a host cluster

  /** qemu-io write -z keeps the host cluster (zero flag plus offset); our partial writes there read right. */
  @Test
  void writesOverZeroClustersThatKeepTheirHostCluster() throws IOException {
    QemuTools tools = QemuTools.in(dir);
    Path image = dir.resolve("zero-alloc.qcow2");
    tools.img("create", "-q", "-f", "qcow2", image, SIZE);
    tools.io("-f", "qcow2", "-c", "write -P 0x61 0 1M", "-c", "write -z 64k 192k", image);
    try (ImageBytes bytes = ImageBytes.open(image)) {
      long entry = bytes.u64(bytes.l2EntryOffset(65536));
      if ((entry & ImageBytes.OFLAG_ZERO) == 0 || (entry & ImageBytes.OFFSET_MASK) == 0) {
        fail("qemu-io write -z did not leave a zero cluster with a host cluster: entry 0x" + Long.toHexString(entry));
      }
    }
    DiskModel model = new DiskModel(SIZE);
    byte[] pattern = new byte[1 << 20];
    java.util.Arrays.fill(pattern, (byte) 0x61);
    model.write(0, pattern);
    model.zero(65536, 192 * 1024);
    // Snapshot one of them, so that a zero cluster whose host cluster is shared is covered too.
    tools.img("snapshot", "-c", "kept", image);
    byte[] kept = model.snapshot();
    try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      byte[] small = {1, 2, 3, 4, 5, 6, 7, 8};
      disk.writeFully(ByteBuffer.wrap(small), 65536 + 1000);
      model.write(65536 + 1000, small);
      byte[] crossing = new byte[70000];
      java.util.Arrays.fill(crossing, (byte) 0x7e);
      disk.writeFully(ByteBuffer.wrap(crossing), 2 * 65536 + 30000);
      model.write(2 * 65536 + 30000, crossing);
      disk.writeZeroes(4 * 65536, 65536);
      model.zero(4 * 65536, 65536);
      disk.writeFully(ByteBuffer.wrap(small), 4 * 65536 + 4096);
      model.write(4 * 65536 + 4096, small);
      model.assertWholeDisk(disk, "reads after writes over zero clusters");
    }
    WriteTesting.assertCheckClean(image, "after writes over zero clusters");
    WriteTesting.assertSameAsModel(image, model, "after writes over zero clusters");
    assertSnapshotRestores(tools, image, "kept", kept);
  }
}
