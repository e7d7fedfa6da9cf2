package io.qcow4j.qcow2;

import static io.qcow4j.testing.ImageBytes.OFFSET_MASK;
import static io.qcow4j.testing.ImageBytes.OFLAG_COPIED;
import static io.qcow4j.testing.ImageBytes.REFCOUNT_ORDER;
import static io.qcow4j.testing.ImageBytes.REFCOUNT_TABLE_OFFSET;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.AmendOptions;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.Compat;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.RefcountOverflowException;
import io.qcow4j.ops.ImageWrites;
import io.qcow4j.qcow2.format.RefcountBlock;
import io.qcow4j.testing.ImageBytes;
import io.qcow4j.testing.Json;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Refcounts at the limit of their width (QEMU's iotest 112): they are unsigned, an increase past
 * the largest value is refused before anything changes, compressed writes start a new cluster where
 * packing would overflow, and check reports overflowing references as qemu-img does.
 */
class RefcountOverflowTest {
  private static final int CLUSTER = 65536;

  @TempDir Path directory;

  /** An image of {@code bits}-bit refcounts with 512 bytes of 0x5a at guest offset 0. */
  private Path imageWithData(String name, int bits) {
    Path image = directory.resolve(name);
    QemuTools tools = QemuTools.in(directory);
    tools.img("create", "-q", "-f", "qcow2", "-o", "refcount_bits=" + bits, image, "64M");
    tools.io("-c", "write -P 0x5a 0 512", image);
    return image;
  }

  /** The host offset of the data cluster that maps guest offset 0. */
  private static long dataCluster(Path image) throws IOException {
    try (ImageBytes bytes = ImageBytes.open(image)) {
      return bytes.u64(bytes.l2EntryOffset(0)) & OFFSET_MASK;
    }
  }

  /** Stores {@code value} as the refcount of the cluster at {@code hostOffset}, in its block on disk. */
  private static void pokeRefcount(Path image, long hostOffset, long value) throws IOException {
    long blockOffset;
    int order;
    try (ImageBytes bytes = ImageBytes.open(image)) {
      order = bytes.u32(REFCOUNT_ORDER);
      long perBlock = RefcountBlock.entries(CLUSTER, order);
      long cluster = hostOffset / CLUSTER;
      blockOffset = bytes.u64(bytes.u64(REFCOUNT_TABLE_OFFSET) + 8 * (cluster / perBlock));
      byte[] block = readCluster(image, blockOffset);
      RefcountBlock.set(block, (int) (cluster % perBlock), order, value);
      bytes.putBytes(blockOffset, block);
    }
  }

  private static long refcountOf(Path image, long hostOffset) throws IOException {
    try (ImageBytes bytes = ImageBytes.open(image)) {
      int order = bytes.u32(REFCOUNT_ORDER);
      long perBlock = RefcountBlock.entries(CLUSTER, order);
      long cluster = hostOffset / CLUSTER;
      long blockOffset = bytes.u64(bytes.u64(REFCOUNT_TABLE_OFFSET) + 8 * (cluster / perBlock));
      return RefcountBlock.get(readCluster(image, blockOffset), (int) (cluster % perBlock), order);
    }
  }

  private static byte[] readCluster(Path image, long offset) throws IOException {
    try (FileChannel channel = FileChannel.open(image, StandardOpenOption.READ)) {
      ByteBuffer buffer = ByteBuffer.allocate(CLUSTER);
      while (buffer.hasRemaining() && channel.read(buffer, offset + buffer.position()) >= 0) {
        // until full
      }
      return buffer.array();
    }
  }

  /** Clears the COPIED flag of guest cluster 0's L2 entry, as a refcount other than 1 asks. */
  private static void clearCopied(Path image) throws IOException {
    try (ImageBytes bytes = ImageBytes.open(image)) {
      long entry = bytes.l2EntryOffset(0);
      bytes.putU64(entry, bytes.u64(entry) & ~OFLAG_COPIED);
    }
  }

  /** qemu-img check's JSON report with its exit status (3 for leaks). */
  private static Map<String, Object> qemuCheck(Path image) {
    QemuTools.Result result = QemuTools.in(image.getParent()).run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "check",
        "--output=json", image);
    Map<String, Object> report = new java.util.TreeMap<>(Json.parseObject(result.stdout()));
    report.put("exit status", result.exitCode());
    return report;
  }

  @ParameterizedTest(name = "refcount_bits={0}")
  @ValueSource(ints = {1, 2, 4, 8, 16, 32, 64})
  void snapshotOfAClusterAtTheMaximumIsRefusedAndLeaksTheL1CopyAsQemuDoes(int bits) throws IOException {
    Path image = imageWithData("max-" + bits + ".qcow2", bits);
    long data = dataCluster(image);
    long max = RefcountBlock.maxValue(Integer.numberOfTrailingZeros(bits));
    if (max != 1) {
      pokeRefcount(image, data, max);
      clearCopied(image);
    }
    Path qemuCopy = directory.resolve("qemu-" + bits + ".qcow2");
    Files.copy(image, qemuCopy);

    // QEMU refuses too (its update_refcount: EINVAL), and that is what qemu-img prints.
    QemuTools.Result qemu = QemuTools.in(directory).run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "snapshot", "-c",
        "foo", qemuCopy);
    assertThat(qemu.exitCode()).as(qemu.describe()).isEqualTo(1);
    assertThat(qemu.stderr()).contains("Could not create snapshot 'foo': -22 (Invalid argument)");

    try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      // With one bit the L2 table (walked first) is already full; wider, only the poked data cluster is.
      assertThatThrownBy(() -> disk.createSnapshot("foo")).isInstanceOf(RefcountOverflowException.class)
          .hasMessageContaining(max == 1 ? "the most 1-bit refcounts hold" : String.format("0x%x", data));
      assertThat(disk.snapshots()).isEmpty();
      ByteBuffer guest = ByteBuffer.allocate(512);
      disk.read(guest, 0);
      byte[] expected = new byte[512];
      Arrays.fill(expected, (byte) 0x5a);
      assertThat(guest.array()).isEqualTo(expected);
    }
    // qcow2_snapshot_create allocates and writes the L1 copy before the references overflow, and
    // leaves it leaked (iotest 112): the same leak, and nothing else changed
    assertThat(refcountOf(image, data)).isEqualTo(max);
    Map<String, Object> ourReport = qemuCheck(image);
    Map<String, Object> theirReport = qemuCheck(qemuCopy);
    ourReport.remove("filename");
    theirReport.remove("filename");
    assertThat(ourReport).isEqualTo(theirReport);
    assertThat(Files.size(image)).isEqualTo(Files.size(qemuCopy));
    CheckResult ours = QcowFile.check(image, CheckResult.Repair.NONE);
    QemuTools.Result theirs = QemuTools.in(directory).run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "check", qemuCopy);
    assertThat(ours.messages()).contains("Leaked cluster " + (data / CLUSTER + 1) + " refcount=1 reference=0");
    assertThat(String.join("\n", ours.messages()) + "\n").isEqualTo(theirs.stderr());
  }

  @Test
  void aSixtyFourBitRefcountWithItsTopBitSetGoesUpAndDown() throws IOException {
    Path image = imageWithData("top-bit.qcow2", 64);
    long data = dataCluster(image);
    long topBit = 1L << 63;
    pokeRefcount(image, data, topBit);
    clearCopied(image);

    try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      disk.createSnapshot("foo");
    }
    assertThat(Long.toUnsignedString(refcountOf(image, data))).isEqualTo(Long.toUnsignedString(topBit + 1));
    try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      disk.deleteSnapshot("foo");
    }
    assertThat(Long.toUnsignedString(refcountOf(image, data))).isEqualTo(Long.toUnsignedString(topBit));

    // A write to the shared cluster copies it and drops one reference from the old one (iotest 112).
    try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      byte[] sector = new byte[512];
      Arrays.fill(sector, (byte) 0x6b);
      disk.write(ByteBuffer.wrap(sector), 0);
      disk.flush();
    }
    assertThat(refcountOf(image, data)).isEqualTo(topBit - 1);
    String leak = "Leaked cluster " + data / CLUSTER + " refcount=" + (topBit - 1) + " reference=0";
    QemuTools.Result qemu = QemuTools.in(directory).run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "check", image);
    assertThat(qemu.stderr()).contains(leak);
    CheckResult ours = QcowFile.check(image, CheckResult.Repair.NONE);
    assertThat(ours.messages()).containsExactly(leak);
    assertThat(ours.corruptions()).isZero();
    assertThat(ours.exitStatus()).isEqualTo(qemu.exitCode());
    QemuTools.qemuIo("-c", "read -P 0x6b 0 512", image);
  }

  @Test
  void checkPrintsATopBitRefcountUnsignedAsALeak() throws IOException {
    Path image = imageWithData("max-leak.qcow2", 64);
    long data = dataCluster(image);
    pokeRefcount(image, data, -1L);
    clearCopied(image);
    String leak = "Leaked cluster " + data / CLUSTER + " refcount=18446744073709551615 reference=1";
    QemuTools.Result qemu = QemuTools.in(directory).run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "check", image);
    assertThat(qemu.stderr()).contains(leak);
    CheckResult ours = QcowFile.check(image, CheckResult.Repair.NONE);
    assertThat(ours.messages()).containsExactly(leak);
    assertThat(ours.leaks()).isEqualTo(1);
    assertThat(ours.corruptions()).isZero();
  }

  @ParameterizedTest(name = "refcount_bits={0}")
  @ValueSource(ints = {1, 2, 4, 16})
  void compressedWritesStartANewClusterWhereTheRefcountIsFull(int bits) throws IOException {
    Path image = directory.resolve("compressed-" + bits + ".qcow2");
    QemuTools.in(directory).img("create", "-q", "-f", "qcow2", "-o", "refcount_bits=" + bits, image, "64M");
    int clusters = 20;
    try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      for (int index = 0; index < clusters; index++) {
        // Each cluster compresses to a few hundred bytes: 20 of them would share one host cluster.
        ImageWrites.writeCompressed(disk, (long) index * CLUSTER, CLUSTER, ImageWrites.Content.pattern(index));
      }
    }
    QemuTools.Result check = QemuTools.qemuImg("check", image);
    assertThat(check.stdout()).contains("No errors were found on the image.");
    for (int index = 0; index < clusters; index++) {
      QemuTools.Result read = QemuTools.qemuIo("-c",
          String.format("read -P %d %d %d", index, (long) index * CLUSTER, CLUSTER), image);
      assertThat(read.stdout()).as("cluster %d", index).doesNotContain("verification failed");
    }
    assertThat(QcowFile.check(image, CheckResult.Repair.NONE).exitStatus()).isZero();
  }

  @Test
  void checkReportsAReferenceOverflowAsQemuImgDoes() throws IOException {
    Path image = directory.resolve("overflow.qcow2");
    QemuTools tools = QemuTools.in(directory);
    tools.img("create", "-q", "-f", "qcow2", "-o", "refcount_bits=1", image, "64M");
    tools.io("-c", "write 0 64k", image);
    long data = dataCluster(image);
    try (ImageBytes bytes = ImageBytes.open(image)) {
      // Guest cluster 1 maps the same host cluster: two references where one bit holds one.
      bytes.putU64(bytes.l2EntryOffset(CLUSTER), OFLAG_COPIED | data);
    }
    byte[] before = Files.readAllBytes(image);
    List<String> overflow = List.of(String.format("ERROR: overflow cluster offset=0x%x", data),
        "Use qemu-img amend to increase the refcount entry width or qemu-img convert to create a clean copy if the"
            + " image cannot be opened for writing");
    for (CheckResult.Repair repair : CheckResult.Repair.values()) {
      List<String> args = switch (repair) {
        case NONE -> List.of();
        case LEAKS -> List.of("-r", "leaks");
        case ALL -> List.of("-r", "all");
      };
      Object[] command = java.util.stream.Stream.concat(java.util.stream.Stream.of("check", "--output=json"),
          java.util.stream.Stream.concat(args.stream(), java.util.stream.Stream.of(image.toString()))).toArray();
      QemuTools.Result qemu = tools.run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", command);
      Map<String, Object> expected = Json.parseObject(qemu.stdout());
      assertThat(qemu.stderr().lines().toList()).as(qemu.describe()).isEqualTo(overflow);

      CheckResult ours = QcowFile.check(image, repair);
      assertThat(ours.messages()).as("%s", repair).isEqualTo(overflow);
      assertThat(ours.corruptions()).isEqualTo(((Number) expected.get("corruptions")).longValue()).isEqualTo(1);
      assertThat(ours.leaks()).isZero();
      assertThat(ours.corruptionsFixed() + ours.leaksFixed()).isZero();
      assertThat(ours.exitStatus()).isEqualTo(qemu.exitCode()).isEqualTo(2);
      assertThat(Files.readAllBytes(image)).as("the image after check %s", repair).isEqualTo(before);
    }
  }

  @Test
  void aNarrowingAmendIsRefusedInQemuImgWordsBeforeAnythingIsWritten() throws IOException {
    Path image = imageWithData("narrow.qcow2", 16);
    // The snapshot shares the L2 table and the data cluster: refcount 2, more than one bit holds.
    QemuTools.qemuImg("snapshot", "-c", "foo", image);
    long shared = dataCluster(image);
    byte[] before = Files.readAllBytes(image);
    Path qemuCopy = directory.resolve("narrow-qemu.qcow2");
    Files.copy(image, qemuCopy);
    QemuTools.Result qemu = QemuTools.in(directory).run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "amend", "-o",
        "refcount_bits=1", qemuCopy);

    try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      assertThatThrownBy(() -> disk.amend(AmendOptions.none().withRefcountBits(1)))
          .isInstanceOf(ImageLimitException.class)
          .satisfies(e -> assertThat(qemu.stderr()).contains(e.getMessage()));
    }
    assertThat(qemu.exitCode()).isEqualTo(1);
    assertThat(Files.readAllBytes(image)).as("the image after the refused amend").isEqualTo(before);
    assertThat(refcountOf(image, shared)).isEqualTo(2);
  }

  @Test
  void compatZeroTenWithSixteenBitRefcountsAmendsASixtyFourBitImage() throws IOException {
    Path image = imageWithData("downgrade.qcow2", 64);
    try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      disk.amend(AmendOptions.none().withCompat(Compat.V2).withRefcountBits(16));
    }
    QemuTools.Result info = QemuTools.qemuImg("info", image);
    assertThat(info.stdout()).contains("compat: 0.10").contains("refcount bits: 16");
    assertThat(QemuTools.qemuImg("check", image).stdout()).contains("No errors were found on the image.");
    assertThat(QemuTools.qemuIo("-c", "read -P 0x5a 0 512", image).stdout()).doesNotContain("verification failed");
  }
}
