package io.qcow4j.qcow2;

import static io.qcow4j.testing.ImageBytes.INCOMPATIBLE_FEATURES;
import static io.qcow4j.testing.ImageBytes.L1_TABLE_OFFSET;
import static io.qcow4j.testing.ImageBytes.OFFSET_MASK;
import static io.qcow4j.testing.ImageBytes.REFCOUNT_TABLE_OFFSET;
import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.disk.CheckResult;
import io.qcow4j.testing.ImageBytes;
import io.qcow4j.testing.Json;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Images made by qemu-img with one metadata field damaged: our check must count what qemu-img
 * check counts (corruptions, leaks, check errors, so the same exit status) and name the problem
 * in the same words.
 */
class CheckMatchesQemuTest {
  private static final int CLUSTER = 4096;
  private static final int EXTENDED_CLUSTER = 16384;

  @TempDir Path directory;

  /** One damaged image: how to make it, and a line our check must print about it. */
  record Damage(String name, String options, String workload, Patch patch, String expectedLine) {
    @Override
    public String toString() {
      return name;
    }
  }

  @FunctionalInterface
  interface Patch {
    void apply(ImageBytes bytes) throws IOException;
  }

  static Stream<Damage> damages() {
    String plain = "cluster_size=" + CLUSTER;
    String extended = "cluster_size=" + EXTENDED_CLUSTER + ",extended_l2=on";
    String data = "write -P 0x31 0 8k";
    return Stream.of(
        new Damage("l1-entry-reserved-bit-1", plain, data,
            bytes -> orU64(bytes, firstL1Entry(bytes), 1L << 1), "ERROR found L1 entry with reserved bits set: 8000000000004002"),
        new Damage("l1-entry-reserved-bit-60", plain, data,
            bytes -> orU64(bytes, firstL1Entry(bytes), 1L << 60), "ERROR found L1 entry with reserved bits set: 9000000000004000"),
        new Damage("l2-entry-reserved-bit-2", plain, data,
            bytes -> orU64(bytes, firstL2Entry(bytes), 1L << 2), "ERROR found l2 entry with reserved bits set: 8000000000005004"),
        new Damage("l2-entry-reserved-bit-57", plain, data,
            bytes -> orU64(bytes, firstL2Entry(bytes), 1L << 57), "ERROR found l2 entry with reserved bits set: 8200000000005000"),
        new Damage("l1-entry-unaligned", plain, data,
            bytes -> bytes.putU64(firstL1Entry(bytes), bytes.u64(firstL1Entry(bytes)) + 0x200), "ERROR l2_offset=4200: Table is not cluster aligned; L1 entry corrupted"),
        new Damage("l2-entry-unaligned", plain, data,
            bytes -> bytes.putU64(firstL2Entry(bytes), bytes.u64(firstL2Entry(bytes)) + 0x200), "ERROR offset=5200: Data cluster is not properly aligned; L2 entry corrupted."),
        new Damage("refcount-table-entry-reserved-bit-0", plain, data,
            bytes -> orU64(bytes, bytes.u64(REFCOUNT_TABLE_OFFSET), 1L), "ERROR refcount table entry 0 has reserved bits set"),
        new Damage("refcount-table-entry-past-end", plain, data,
            bytes -> bytes.putU64(bytes.u64(REFCOUNT_TABLE_OFFSET), 1L << 40), "ERROR refcount block 0 is outside image"),
        new Damage("refcount-table-entry-bit-62", plain, data,
            bytes -> orU64(bytes, bytes.u64(REFCOUNT_TABLE_OFFSET), 1L << 62), "ERROR refcount block 0 is outside image"),
        new Damage("refcount-table-entry-unaligned", plain, data,
            bytes -> orU64(bytes, bytes.u64(REFCOUNT_TABLE_OFFSET), 0x200), "ERROR refcount block 0 is not cluster aligned; refcount table entry corrupted"),
        new Damage("extended-l2-unallocated-with-allocation-bits", extended, "write -P 0x32 0 4k",
            bytes -> bytes.putU64(firstL2Entry(bytes) + 16 + 8, 0b11), "ERROR: Unallocated cluster has non-zero subcluster allocation map"),
        new Damage("extended-l2-allocated-and-zero-bits", extended, "write -P 0x33 0 4k",
            bytes -> orU64(bytes, firstL2Entry(bytes) + 8, 1L << 32), "ERROR offset=14000: Allocated cluster has corrupted subcluster allocation bitmap"),
        new Damage("extended-l2-compressed-with-bitmap", extended, "write -c -P 0x34 0 16k",
            bytes -> bytes.putU64(firstL2Entry(bytes) + 8, 1), "ERROR compressed cluster 0 with non-zero subcluster allocation bitmap, entry=0x4000000000014000"),
        // qemu-img check does not look at the zero flag of a v2 image (reading it fails instead).
        new Damage("v2-l2-entry-zero-flag", "compat=0.10," + plain, data,
            bytes -> orU64(bytes, firstL2Entry(bytes), 1L), null));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("damages")
  void countsWhatQemuImgCounts(Damage damage) throws IOException {
    Path image = directory.resolve(damage.name() + ".qcow2");
    QemuTools tools = QemuTools.in(directory);
    tools.img("create", "-q", "-f", "qcow2", "-o", damage.options(), image, "1M");
    tools.io("-f", "qcow2", "-c", damage.workload(), image);
    try (ImageBytes bytes = ImageBytes.open(image)) {
      damage.patch().apply(bytes);
      assertThat(bytes.u64(INCOMPATIBLE_FEATURES) & 2).as("corrupt bit before the check").isZero();
    }

    QemuTools.Result qemu = tools.run(Duration.ofSeconds(60), "qemu-img", "check", "--output=json", image);
    Map<String, Object> expected = Json.parseObject(qemu.stdout());
    CheckResult ours = QcowFile.check(image, CheckResult.Repair.NONE);

    String context = damage.name() + "\nqemu-img: " + qemu.describe() + "\nours: " + ours;
    assertThat(ours.corruptions()).as("corruptions; %s", context).isEqualTo(figure(expected, "corruptions"));
    assertThat(ours.leaks()).as("leaks; %s", context).isEqualTo(figure(expected, "leaks"));
    assertThat(ours.checkErrors()).as("check errors; %s", context).isEqualTo(figure(expected, "check-errors"));
    assertThat(ours.exitStatus()).as("exit status; %s", context).isEqualTo(qemu.exitCode());
    assertThat(ours.allocatedClusters()).as("allocated clusters; %s", context)
        .isEqualTo(figure(expected, "allocated-clusters"));
    assertThat(ours.imageEndOffset()).as("image end offset; %s", context).isEqualTo(figure(expected, "image-end-offset"));
    if (damage.expectedLine() != null) {
      assertThat(ours.messages()).as("our messages; %s", context).contains(damage.expectedLine());
      assertThat(qemu.stderr()).as("qemu-img's messages").contains(damage.expectedLine());
    }
  }

  private static long figure(Map<String, Object> check, String key) {
    Object value = check.get(key);
    return value == null ? 0 : ((Number) value).longValue();
  }

  private static long firstL1Entry(ImageBytes bytes) throws IOException {
    return bytes.u64(L1_TABLE_OFFSET);
  }

  private static long firstL2Entry(ImageBytes bytes) throws IOException {
    return bytes.u64(firstL1Entry(bytes)) & OFFSET_MASK;
  }

  private static void orU64(ImageBytes bytes, long offset, long bits) throws IOException {
    bytes.putU64(offset, bytes.u64(offset) | bits);
  }
}
