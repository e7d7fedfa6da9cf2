package io.qcow4j.write;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.NoMediumException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.testing.ImageBytes;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Promises of the write path that are not about content: read-only opens, space reuse, the corrupt bit. */
class WriteInvariantsTest {
  @TempDir Path dir;

  /** A read-only open never writes a byte, even of an image whose autoclear bits a read-write open would clear. */
  @Test
  void readOnlyOpenLeavesTheFileUntouched() throws IOException {
    Path image = dir.resolve("ro.qcow2");
    QemuTools.in(dir).img("create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", image, 4 << 20);
    QemuTools.in(dir).io("-c", "write -P 0x21 0 300k", image);
    try (ImageBytes bytes = ImageBytes.open(image)) {
      bytes.putU64(ImageBytes.AUTOCLEAR_FEATURES, 1L << 40);
    }
    byte[] before = Files.readAllBytes(image);
    try (QcowFile disk = QcowFile.open(image, OpenOptions.readOnlyDefaults())) {
      disk.readFully(ByteBuffer.allocate(4 << 20), 0);
      disk.flush();
      disk.force(true);
      assertThatThrownBy(() -> disk.write(ByteBuffer.allocate(1), 0)).isInstanceOf(IOException.class);
    }
    assertThat(Arrays.equals(before, Files.readAllBytes(image))).as("file unchanged by a read-only open").isTrue();
  }

  /**
   * Discarded clusters are reused: a discard-then-write loop grows the file no more than QEMU's
   * allocator grows it on the same rounds (qemu-io with discard=unmap), and so not without bound.
   */
  @Test
  void discardThenWriteReusesClusters() throws IOException {
    for (CreateOptions options : new CreateOptions[] {CreateOptions.of(16 << 20),
        CreateOptions.of(16 << 20).withClusterSize(4096), CreateOptions.of(16 << 20).withLazyRefcounts(true)}) {
      String name = "reuse-" + options.clusterSize() + "-" + options.lazyRefcounts();
      Path image = dir.resolve(name + ".qcow2");
      Path reference = dir.resolve(name + "-qemu.qcow2");
      byte[] data = new byte[1 << 20];
      Arrays.fill(data, (byte) 0x5e);
      java.util.List<Object> qemuArguments = new java.util.ArrayList<>(java.util.List.of("-d", "unmap",
          "-c", "write -P 0x5e 0 1M", "-c", "flush"));
      try (QcowFile disk = QcowFile.create(image, options)) {
        disk.writeFully(ByteBuffer.wrap(data), 0);
        disk.flush();
        // Each round moves the one written MiB elsewhere: what is allocated stays 1 MiB.
        long written = 0;
        for (int round = 1; round <= 40; round++) {
          long next = (round % 8) * (1L << 20) + (round % 3) * 65536;
          disk.discard(written, 1 << 20);
          disk.flush();
          disk.writeFully(ByteBuffer.wrap(data), next);
          disk.flush();
          qemuArguments.addAll(java.util.List.of("-c", "discard " + written + " 1M", "-c", "flush",
              "-c", "write -P 0x5e " + next + " 1M", "-c", "flush"));
          written = next;
        }
      }
      QemuTools tools = QemuTools.in(dir);
      tools.img("create", "-q", "-f", "qcow2", "-o", "cluster_size=" + options.clusterSize()
          + ",lazy_refcounts=" + (options.lazyRefcounts() ? "on" : "off"), reference, options.size());
      qemuArguments.add(reference);
      tools.io(qemuArguments.toArray());
      assertThat(Files.size(image)).as("file size after 40 discard-and-write rounds of 1 MiB, " + options)
          .isLessThanOrEqualTo(Files.size(reference) + options.clusterSize());
      WriteTesting.assertCheckClean(image, "after discard-and-write rounds, " + options);
    }
  }

  /** An inconsistent L2 entry found by a write fails it with CorruptImageException and sets the corrupt bit. */
  @Test
  void writeThatFindsAMisalignedEntryMarksTheImageCorrupt() throws IOException {
    Path image = dir.resolve("corrupt.qcow2");
    QemuTools.in(dir).img("create", "-q", "-f", "qcow2", image, 4 << 20);
    QemuTools.in(dir).io("-c", "write -P 0x21 0 64k", image);
    try (ImageBytes bytes = ImageBytes.open(image)) {
      long entryOffset = bytes.l2EntryOffset(0);
      bytes.putU64(entryOffset, bytes.u64(entryOffset) | 0x200);
    }
    try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      assertThatThrownBy(() -> disk.writeFully(ByteBuffer.wrap(new byte[] {1, 2}), 10))
          .isInstanceOf(CorruptImageException.class);
      // the image is unusable for the rest of its open, as QEMU's node after bs->drv = NULL
      assertThatThrownBy(() -> disk.writeFully(ByteBuffer.wrap(new byte[] {1, 2}), 1 << 20))
          .as("writes after the corruption was found").isInstanceOf(NoMediumException.class);
      assertThatThrownBy(() -> disk.info()).as("queries after the corruption was found")
          .isInstanceOf(NoMediumException.class);
    }
    try (ImageBytes bytes = ImageBytes.open(image)) {
      assertThat(bytes.u64(ImageBytes.INCOMPATIBLE_FEATURES) & 2).as("corrupt bit").isEqualTo(2);
    }
    assertThatThrownBy(() -> QcowFile.open(image, OpenOptions.readWriteDefaults()).close())
        .isInstanceOf(CorruptImageException.class);
  }

  /**
   * An in-place write into a cluster whose L2 entry says it is this image's alone (COPIED) but whose
   * refcount is 0 is refused as corruption: the allocator would hand that cluster to the next new
   * cluster, and one of the two would lose its data (a fuzzing finding).
   */
  @Test
  void inPlaceWriteIntoACopiedClusterWithRefcountZeroMarksTheImageCorrupt() throws IOException {
    Path image = dir.resolve("refcount0.qcow2");
    QemuTools.in(dir).img("create", "-q", "-f", "qcow2", image, 4 << 20);
    QemuTools.in(dir).io("-c", "write -P 0x21 0 64k", image);
    try (ImageBytes bytes = ImageBytes.open(image)) {
      long host = bytes.u64(bytes.l2EntryOffset(0)) & 0x00ff_ffff_ffff_fe00L;
      long block = bytes.u64(bytes.u64(48)) & ~511L;
      int clusterBits = Integer.numberOfTrailingZeros(bytes.clusterSize());
      bytes.putBytes(block + 2 * (host >>> clusterBits), new byte[2]);
    }
    try (QcowFile disk = QcowFile.open(image, OpenOptions.readWriteDefaults())) {
      assertThatThrownBy(() -> disk.writeFully(ByteBuffer.wrap(new byte[] {1, 2}), 10))
          .isInstanceOf(CorruptImageException.class)
          .hasMessageContaining("the L2 entry of guest offset 0x0").hasMessageContaining("its refcount is 0");
      assertThatThrownBy(() -> disk.read(ByteBuffer.allocate(512), 0)).as("reads after the corruption was found")
          .isInstanceOf(NoMediumException.class);
    }
    try (ImageBytes bytes = ImageBytes.open(image)) {
      assertThat(bytes.u64(ImageBytes.INCOMPATIBLE_FEATURES) & 2).as("corrupt bit set by the write that found the bad entry")
          .isEqualTo(2);
    }
  }
}
