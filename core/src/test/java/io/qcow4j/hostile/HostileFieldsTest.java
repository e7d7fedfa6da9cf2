package io.qcow4j.hostile;

import static io.qcow4j.testing.ImageBytes.HEADER_LENGTH;
import static io.qcow4j.testing.ImageBytes.L1_TABLE_OFFSET;
import static io.qcow4j.testing.ImageBytes.OFFSET_MASK;
import static io.qcow4j.testing.ImageBytes.REFCOUNT_TABLE_OFFSET;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.testing.ImageBytes;
import io.qcow4j.testing.Json;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Images made by qemu-img with one field that the engine must not trust: a refcount-table entry
 * with reserved bits or bit 63, an L1 entry with reserved bits, a zero flag in a v2 image, a
 * header_length that fills the first cluster. Each must end in a CorruptImageException that names
 * the file and the field, quickly and with little heap; never in another exception, a hang, or
 * data reported written that was not.
 */
class HostileFieldsTest {
  private static final Duration TIME_LIMIT = Duration.ofSeconds(5);
  /** Far above what opening and writing a 1 MiB image needs, far below what a runaway walk takes. */
  private static final long ALLOCATION_LIMIT_BYTES = 64L << 20;
  private static final int CLUSTER = 4096;
  private static final String IMAGE = "hostile.qcow2";

  @TempDir Path directory;

  @Test
  void refcountTableEntryWithReservedBitsIsRefusedBeforeAWriteIsAcknowledged() throws IOException {
    Path image = plainImage("");
    patch(image, bytes -> orU64(bytes, bytes.u64(REFCOUNT_TABLE_OFFSET), 1L));
    assertRefusedBeforeWriteReturns(image, "refcount table");
  }

  @Test
  void refcountTableEntryWithBit63IsRefusedBeforeAWriteIsAcknowledged() throws IOException {
    Path image = plainImage("");
    patch(image, bytes -> orU64(bytes, bytes.u64(REFCOUNT_TABLE_OFFSET), 1L << 63));
    assertRefusedBeforeWriteReturns(image, "refcount table");
  }

  /**
   * qemu-img check: one corruption (the block is outside the image, or the entry has reserved
   * bits) and a check error for each of the file's clusters, whose refcounts no read reaches (exit 1).
   */
  @ParameterizedTest(name = "refcount table entry | 0x{0}")
  @ValueSource(strings = {"8000000000000000", "8000000000000001"})
  void refcountTableEntryWithBit63IsCheckedLikeQemuImg(String bitsInHex) throws IOException {
    long bits = Long.parseUnsignedLong(bitsInHex, 16);
    Path image = plainImage("");
    patch(image, bytes -> orU64(bytes, bytes.u64(REFCOUNT_TABLE_OFFSET), bits));
    QemuTools.Result qemu = QemuTools.in(directory).run(Duration.ofSeconds(60), "qemu-img", "check", "--output=json", image);
    Map<String, Object> expected = Json.parseObject(qemu.stdout());

    CheckResult ours = bounded("check of " + image, () -> QcowFile.check(image, CheckResult.Repair.NONE));

    assertThat(ours.corruptions()).as("corruptions; qemu-img: %s", qemu.describe()).isEqualTo(figure(expected, "corruptions"));
    assertThat(ours.checkErrors()).as("check errors; qemu-img: %s", qemu.describe()).isEqualTo(figure(expected, "check-errors"));
    assertThat(ours.exitStatus()).isEqualTo(qemu.exitCode()).isEqualTo(1);
    assertThat(ours.messages()).contains((bits & 1) == 0 ? "ERROR refcount block 0 is outside image"
        : "ERROR refcount table entry 0 has reserved bits set");
  }

  @Test
  void l1EntryWithReservedBitsIsRefusedOnRead() throws IOException {
    Path image = plainImage("");
    patch(image, bytes -> orU64(bytes, bytes.u64(L1_TABLE_OFFSET), 1L << 1));
    Throwable thrown = bounded("read of " + image, () -> failureOf(() -> {
      try (DiskFile disk = QcowFile.open(image, OpenOptions.readOnlyDefaults())) {
        disk.readFully(ByteBuffer.allocate(CLUSTER), 0);
      }
    }));
    assertNamedCorruption(thrown, image, "L1");
  }

  @Test
  void l1EntryWithReservedBitsIsRefusedBeforeAWriteIsAcknowledged() throws IOException {
    Path image = plainImage("");
    patch(image, bytes -> orU64(bytes, bytes.u64(L1_TABLE_OFFSET), 1L << 1));
    assertRefusedBeforeWriteReturns(image, "L1");
  }

  /** QEMU: "Zero cluster entry found in pre-v3 image" marks the image corrupt and fails the read. */
  @Test
  void zeroFlagInAVersion2ImageIsRefusedOnRead() throws IOException {
    Path image = plainImage("compat=0.10,");
    patch(image, bytes -> orU64(bytes, bytes.u64(bytes.u64(L1_TABLE_OFFSET)) & OFFSET_MASK, 1L));
    Throwable thrown = bounded("read of " + image, () -> failureOf(() -> {
      try (DiskFile disk = QcowFile.open(image, OpenOptions.readOnlyDefaults())) {
        disk.readFully(ByteBuffer.allocate(CLUSTER), 0);
      }
    }));
    assertNamedCorruption(thrown, image, "L2");
  }

  @Test
  void headerLengthOfAWholeClusterIsRefusedAtOpen() throws IOException {
    Path image = plainImage("");
    patch(image, bytes -> bytes.putU32(HEADER_LENGTH, CLUSTER));
    for (OpenOptions options : new OpenOptions[] {OpenOptions.readOnlyDefaults(), OpenOptions.readWriteDefaults()}) {
      Throwable thrown = bounded("open of " + image, () -> failureOf(() -> QcowFile.open(image, options).close()));
      assertNamedCorruption(thrown, image, "header_length");
    }
  }

  /**
   * A header_length 16 bytes short of the cluster, followed by an unknown 8-byte extension that
   * ends the cluster without an end marker (QEMU reads that): written back, the header would need
   * 8 bytes more than the cluster holds.
   */
  @Test
  void headerLengthLeavingNoRoomForTheExtensionsIsRefusedAtOpen() throws IOException {
    Path image = plainImage("");
    patch(image, bytes -> {
      bytes.putU32(HEADER_LENGTH, CLUSTER - 16);
      bytes.putU32(CLUSTER - 16, 0x7e57_e8d0).putU32(CLUSTER - 12, 8).putU64(CLUSTER - 8, 0x0123_4567_89ab_cdefL);
    });
    Throwable thrown = bounded("open of " + image, () -> failureOf(() -> QcowFile.open(image, OpenOptions.readOnlyDefaults()).close()));
    assertNamedCorruption(thrown, image, "header_length");
  }

  /**
   * Opens {@code image} read-write, writes a cluster and closes it: one of the first two steps
   * must fail with a CorruptImageException naming the file and {@code field}.
   */
  private void assertRefusedBeforeWriteReturns(Path image, String field) {
    boolean[] writeReturned = {false};
    Throwable thrown = bounded("open, write and close of " + image, () -> failureOf(() -> {
      try (DiskFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
        byte[] data = new byte[CLUSTER];
        Arrays.fill(data, (byte) 0x6b);
        disk.writeFully(ByteBuffer.wrap(data), 64 * CLUSTER);
        writeReturned[0] = true;
      }
    }));
    assertNamedCorruption(thrown, image, field);
    assertThat(writeReturned[0]).as("the write returned as if done, before %s was refused", image).isFalse();
  }

  private static void assertNamedCorruption(Throwable thrown, Path image, String field) {
    assertThat(thrown).as("what %s gave", image).isInstanceOf(CorruptImageException.class);
    assertThat(thrown.getMessage()).as("the message names the file").contains(image.getFileName().toString());
    assertThat(thrown.getMessage()).as("the message names the field").contains(field);
  }

  /** A 1 MiB image with 4 KiB clusters and data in its first two clusters, made by qemu-img and qemu-io. */
  private Path plainImage(String options) {
    QemuTools tools = QemuTools.in(directory);
    tools.img("create", "-q", "-f", "qcow2", "-o", options + "cluster_size=" + CLUSTER, IMAGE, "1M");
    tools.io("-f", "qcow2", "-c", "write -P 0x31 0 8k", IMAGE);
    return directory.resolve(IMAGE);
  }

  @FunctionalInterface
  private interface Patch {
    void apply(ImageBytes bytes) throws IOException;
  }

  private static void patch(Path image, Patch patch) throws IOException {
    try (ImageBytes bytes = ImageBytes.open(image)) {
      patch.apply(bytes);
    }
  }

  private static void orU64(ImageBytes bytes, long offset, long bits) throws IOException {
    bytes.putU64(offset, bytes.u64(offset) | bits);
  }

  private static long figure(Map<String, Object> check, String key) {
    Object value = check.get(key);
    return value == null ? 0 : ((Number) value).longValue();
  }

  @FunctionalInterface
  private interface Action {
    void run() throws Exception;
  }

  /** What {@code action} threw, or null. */
  private static Throwable failureOf(Action action) {
    try {
      action.run();
      return null;
    } catch (Throwable t) {
      return t;
    }
  }

  @FunctionalInterface
  private interface Bounded<T> {
    T get() throws Exception;
  }

  /** Runs {@code body} within the time limit and the allocation limit (on its thread). */
  private static <T> T bounded(String what, Bounded<T> body) {
    return assertTimeoutPreemptively(TIME_LIMIT, () -> {
      long before = allocatedBytes();
      T result = body.get();
      assertThat(allocatedBytes() - before).as("heap allocated by the %s", what).isLessThan(ALLOCATION_LIMIT_BYTES);
      return result;
    }, () -> what + " did not finish within " + TIME_LIMIT);
  }

  private static long allocatedBytes() {
    return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
  }
}
