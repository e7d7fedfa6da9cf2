package io.qcow4j.hostile;

import static io.qcow4j.testing.ImageBytes.*;
import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageException;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.testing.ImageBytes;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Hand-crafted bad images: valid qcow2 files made by qemu-img with one field patched. Each must be
 * refused with our exception of the right kind, on open or on the first read of the bad entry,
 * naming the file, quickly and without a large allocation.
 *
 * <p>Which kind, following DESIGN.md ("Errors and limits"): a value the format allows but that
 * exceeds one of our limits is an {@link ImageLimitException}; a feature we do not implement is an
 * {@link UnsupportedFeatureException}; a value the format forbids, or that contradicts the file
 * (unaligned, outside the file, overlapping the header, a chain that contains itself), is a
 * {@link CorruptImageException}.
 */
class HostileImageTest {
  private static final Duration TIME_LIMIT = Duration.ofSeconds(5);
  /** Far above what reading a 1 MiB hostile image needs, far below what any bad field asks for. */
  private static final long ALLOCATION_LIMIT_BYTES = 64L << 20;
  private static final long TIB = 1L << 40;
  private static final int CLUSTER = 64 * 1024;

  @TempDir static Path bases;
  @TempDir Path caseDirectory;

  /** 64 KiB clusters, 1 MiB, v3, data in guest clusters 0 and 1 (so the first L2 table exists). */
  private static Path plainBase;
  /** The same content written compressed (qemu-img convert -c), so guest cluster 0 is compressed. */
  private static Path compressedBase;

  @BeforeAll
  static void makeBases() {
    QemuTools tools = QemuTools.in(bases);
    tools.img("create", "-q", "-f", "qcow2", "-o", "cluster_size=" + CLUSTER, "plain.qcow2", "1M");
    tools.io("-f", "qcow2", "-c", "write -P 0x42 0 128k", "plain.qcow2");
    tools.img("convert", "-c", "-f", "qcow2", "-O", "qcow2", "-o", "cluster_size=" + CLUSTER, "plain.qcow2", "compressed.qcow2");
    plainBase = bases.resolve("plain.qcow2");
    compressedBase = bases.resolve("compressed.qcow2");
  }

  /** How one hostile image is made in an empty directory; returns the file to open. */
  @FunctionalInterface
  interface Maker {
    Path make(Path directory) throws IOException;
  }

  record HostileCase(String name, Class<? extends ImageException> expected, Maker maker) {
    @Override
    public String toString() {
      return name + " -> " + expected.getSimpleName();
    }
  }

  static Stream<HostileCase> cases() {
    return Stream.of(
        // l1_size = 0x7fffffff entries (16 GiB of table); the file is extended (sparse) so the table
        // lies inside it and only the 32 MiB L1 limit is broken. Also catches int overflow of size * 8.
        limit("l1-size-huge", dir -> patched(dir, plainBase, bytes -> {
          bytes.putU32(L1_SIZE, 0x7fff_ffff);
          extendSparse(bytes, bytes.u64(L1_TABLE_OFFSET) + 8L * 0x7fff_ffff + CLUSTER);
        })),
        // l1_table_offset moved 8 bytes off its cluster boundary.
        corrupt("l1-offset-unaligned", dir -> patched(dir, plainBase,
            bytes -> bytes.putU64(L1_TABLE_OFFSET, bytes.u64(L1_TABLE_OFFSET) + 8))),
        // l1_table_offset = 1 TiB, cluster-aligned but far past the end of the 448 KiB file.
        corrupt("l1-offset-past-end", dir -> patched(dir, plainBase, bytes -> bytes.putU64(L1_TABLE_OFFSET, TIB))),
        // L1[0] (the L2 table of guest clusters 0..8191) points at 1 TiB, past the end of the file.
        corrupt("l2-table-past-end", dir -> patched(dir, plainBase,
            bytes -> bytes.putU64(bytes.u64(L1_TABLE_OFFSET), OFLAG_COPIED | TIB))),
        // L2 entry of guest cluster 0 points at host offset 0x200: inside cluster 0, the header.
        // (Offset 0 itself means "unallocated", so an entry into the header is necessarily unaligned.)
        corrupt("l2-entry-into-header", dir -> patched(dir, plainBase,
            bytes -> bytes.putU64(bytes.l2EntryOffset(0), OFLAG_COPIED | 0x200))),
        // L2 entry of guest cluster 0 points at 1 TiB, past the end of the file.
        corrupt("l2-entry-past-end", dir -> patched(dir, plainBase,
            bytes -> bytes.putU64(bytes.l2EntryOffset(0), OFLAG_COPIED | TIB))),
        // refcount_table_offset = 0: the refcount table would be the header itself.
        corrupt("refcount-table-overlaps-header", dir -> patched(dir, plainBase,
            bytes -> bytes.putU64(REFCOUNT_TABLE_OFFSET, 0))),
        // refcount_table_offset = 1 TiB, past the end of the file.
        corrupt("refcount-table-past-end", dir -> patched(dir, plainBase,
            bytes -> bytes.putU64(REFCOUNT_TABLE_OFFSET, TIB))),
        // refcount_table_clusters = 1024 (64 MiB of table, limit 8 MiB); the file is extended
        // (sparse) so the table lies inside it.
        limit("refcount-table-huge", dir -> patched(dir, plainBase, bytes -> {
          bytes.putU32(REFCOUNT_TABLE_CLUSTERS, 1024);
          extendSparse(bytes, bytes.u64(REFCOUNT_TABLE_OFFSET) + 1024L * CLUSTER);
        })),
        // The compressed descriptor of guest cluster 0 keeps its sector count but its host offset
        // (bits 0..53 with 64 KiB clusters) becomes 1 TiB, past the end of the file.
        corrupt("compressed-descriptor-past-end", dir -> patched(dir, compressedBase, bytes -> {
          long entryOffset = bytes.l2EntryOffset(0);
          long entry = bytes.u64(entryOffset);
          if ((entry & OFLAG_COMPRESSED) == 0) {
            throw new IllegalStateException("guest cluster 0 of the base is not compressed: " + Long.toHexString(entry));
          }
          long offsetMask = (1L << (62 - (16 - 8))) - 1;
          bytes.putU64(entryOffset, (entry & ~offsetMask) | TIB);
        })),
        // The first header extension (the feature name table) claims 0x7ffffff0 bytes, far past
        // the end of the first cluster.
        corrupt("extension-length-overflows-cluster", dir -> patched(dir, plainBase, bytes -> {
          long extension = bytes.findExtension(EXTENSION_FEATURE_NAMES);
          bytes.putU32(extension + 4, 0x7fff_fff0);
        })),
        // The feature name table's length runs 8 bytes past the end of the 64 KiB first cluster.
        corrupt("extension-ends-just-past-cluster", dir -> patched(dir, plainBase, bytes -> {
          long extension = bytes.findExtension(EXTENSION_FEATURE_NAMES);
          bytes.putU32(extension + 4, (int) (CLUSTER - (extension + 8) + 8));
        })),
        // cluster_bits = 30 (1 GiB clusters): allowed by the format, beyond our 21-bit limit.
        limit("cluster-bits-30", dir -> patched(dir, plainBase, bytes -> bytes.putU32(CLUSTER_BITS, 30))),
        // cluster_bits = 8: the format requires at least 9.
        corrupt("cluster-bits-8", dir -> patched(dir, plainBase, bytes -> bytes.putU32(CLUSTER_BITS, 8))),
        // refcount_order = 7 (128-bit refcounts): the format allows at most 6.
        corrupt("refcount-order-7", dir -> patched(dir, plainBase, bytes -> bytes.putU32(REFCOUNT_ORDER, 7))),
        // A 5000-byte backing file name at 0x8000 (inside the first cluster): the limit is 1023.
        limit("backing-name-5000-bytes", dir -> patched(dir, plainBase, bytes -> {
          byte[] name = new byte[5000];
          Arrays.fill(name, (byte) 'b');
          bytes.putBytes(0x8000, name);
          bytes.putU64(BACKING_FILE_OFFSET, 0x8000);
          bytes.putU32(BACKING_FILE_SIZE, name.length);
        })),
        // backing_file_offset = 1 TiB with a 10-byte name: the name lies past the end of the file.
        corrupt("backing-name-past-end", dir -> patched(dir, plainBase, bytes -> {
          bytes.putU64(BACKING_FILE_OFFSET, TIB);
          bytes.putU32(BACKING_FILE_SIZE, 10);
        })),
        // a.qcow2 -> b.qcow2 -> a.qcow2, made with qemu-img create -u.
        corrupt("backing-loop", dir -> {
          QemuTools tools = QemuTools.in(dir);
          tools.img("create", "-q", "-f", "qcow2", "-u", "-b", "b.qcow2", "-F", "qcow2", "a.qcow2", "1M");
          tools.img("create", "-q", "-f", "qcow2", "-u", "-b", "a.qcow2", "-F", "qcow2", "b.qcow2", "1M");
          return dir.resolve("a.qcow2");
        }),
        // self.qcow2 -> self.qcow2: qemu-img refuses to make it, so the image is made with the
        // backing name "else.qcow2" and the name's bytes are then overwritten with "self.qcow2".
        corrupt("backing-self-loop", dir -> {
          QemuTools.in(dir).img("create", "-q", "-f", "qcow2", "-u", "-b", "else.qcow2", "-F", "qcow2", "self.qcow2", "1M");
          Path image = dir.resolve("self.qcow2");
          try (ImageBytes bytes = ImageBytes.open(image)) {
            bytes.putBytes(bytes.u64(BACKING_FILE_OFFSET), "self.qcow2".getBytes(US_ASCII));
          }
          return image;
        }),
        // A top image over 17 backing files: its base would be at depth 17, past the default limit
        // of 16 (depth counts backing files below the top, as in qemu-img map's "depth").
        limit("chain-17-deep", dir -> chain(dir, 17)),
        // crypt_method = 1 (legacy AES): read only with its secret, which none is given here.
        new HostileCase("crypt-method-aes-without-secret", io.qcow4j.disk.InvalidSecretException.class,
            dir -> patched(dir, plainBase, bytes -> bytes.putU32(CRYPT_METHOD, 1))),
        // crypt_method = 2 (LUKS) without the crypto header extension: QEMU's "Missing CRYPTO header".
        corrupt("crypt-method-luks-without-header", dir -> patched(dir, plainBase,
            bytes -> bytes.putU32(CRYPT_METHOD, 2))),
        // incompatible feature bit 20, unknown and absent from the feature name table.
        unsupported("unknown-incompatible-bit", dir -> patched(dir, plainBase,
            bytes -> bytes.putU64(INCOMPATIBLE_FEATURES, bytes.u64(INCOMPATIBLE_FEATURES) | 1L << 20))),
        // incompatible feature bit 21, named "hostile test feature" in the feature name table (the
        // table's first entry, the dirty bit's, is rewritten for it); the message must use the name.
        unsupported("unknown-incompatible-bit-named", dir -> patched(dir, plainBase, bytes -> {
          long entry = bytes.findExtension(EXTENSION_FEATURE_NAMES) + 8;
          if (bytes.u8(entry) != 0 || bytes.u8(entry + 1) != 0) {
            throw new IllegalStateException("the first feature name entry is not the dirty bit");
          }
          bytes.putU8(entry + 1, 21);
          bytes.putBytes(entry + 2, Arrays.copyOf("hostile test feature".getBytes(US_ASCII), 46));
          bytes.putU64(INCOMPATIBLE_FEATURES, bytes.u64(INCOMPATIBLE_FEATURES) | 1L << 21);
        })),
        // compression type bit set with compression_type = 7, which no version defines.
        unsupported("compression-type-unknown", dir -> patched(dir, plainBase, bytes -> {
          bytes.putU64(INCOMPATIBLE_FEATURES, bytes.u64(INCOMPATIBLE_FEATURES) | 1L << 3);
          bytes.putU8(COMPRESSION_TYPE, 7);
        })),
        // version = 4.
        unsupported("version-4", dir -> patched(dir, plainBase, bytes -> bytes.putU32(VERSION, 4))),
        // header_length = 96: version 3 headers are at least 104 bytes.
        corrupt("header-length-too-small", dir -> patched(dir, plainBase, bytes -> bytes.putU32(HEADER_LENGTH, 96))),
        // header_length = 108: it must be a multiple of 8.
        corrupt("header-length-not-multiple-of-8", dir -> patched(dir, plainBase, bytes -> bytes.putU32(HEADER_LENGTH, 108))),
        // size = 1 TiB with the one-entry L1 table, which maps only 512 MiB.
        corrupt("l1-too-small-for-size", dir -> patched(dir, plainBase, bytes -> bytes.putU64(SIZE, TIB))),
        // nb_snapshots = 0x7fffffff at an aligned offset inside the file: the limit is 65536.
        limit("snapshot-count-huge", dir -> patched(dir, plainBase, bytes -> {
          bytes.putU32(NB_SNAPSHOTS, 0x7fff_ffff);
          bytes.putU64(SNAPSHOTS_OFFSET, bytes.u64(L1_TABLE_OFFSET));
        })));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void refusedWithTheRightException(HostileCase hostile) throws IOException {
    Path image = hostile.maker().make(caseDirectory);
    Throwable thrown = assertTimeoutPreemptively(TIME_LIMIT, () -> openAndReadEverything(image),
        () -> hostile.name() + ": not refused within " + TIME_LIMIT);
    System.out.println(hostile.name() + ": " + thrown);
    assertThat(thrown).as("%s: what opening and reading %s throws", hostile.name(), image)
        .isExactlyInstanceOf(hostile.expected());
    assertThat(thrown.getMessage()).as("%s: the message names the file", hostile.name())
        .containsAnyOf(imageNames(caseDirectory));
  }

  @Test
  void unpatchedBasesRead() throws IOException {
    for (Path base : List.of(plainBase, compressedBase)) {
      try (DiskFile disk = DiskImages.open(base, OpenOptions.readOnlyDefaults())) {
        ByteBuffer buffer = ByteBuffer.allocate((int) disk.size());
        disk.readFully(buffer, 0);
        assertThat(buffer.get(0)).isEqualTo((byte) 0x42);
        assertThat(buffer.get(128 * 1024 - 1)).isEqualTo((byte) 0x42);
        assertThat(buffer.get(128 * 1024)).isZero();
      }
    }
  }

  @Test
  void chainSixteenDeepOpens() throws IOException {
    Path top = chain(caseDirectory, OpenOptions.DEFAULT_MAX_CHAIN_DEPTH);
    try (DiskFile disk = DiskImages.open(top, OpenOptions.readOnlyDefaults())) {
      ByteBuffer buffer = ByteBuffer.allocate(1);
      disk.readFully(buffer, 0);
      assertThat(buffer.get(0)).as("the byte the base of the chain wrote").isEqualTo((byte) 0x5b);
    }
  }

  @Test
  void chainDeeperThanAConfiguredLimitIsRefused() throws IOException {
    Path top = chain(caseDirectory, 3);
    Throwable thrown = assertTimeoutPreemptively(TIME_LIMIT, () -> {
      try (DiskFile disk = DiskImages.open(top, OpenOptions.readOnlyDefaults().withMaxChainDepth(2))) {
        return null;
      } catch (Throwable t) {
        return t;
      }
    });
    assertThat(thrown).isExactlyInstanceOf(ImageLimitException.class);
    try (DiskFile disk = DiskImages.open(top, OpenOptions.readOnlyDefaults().withMaxChainDepth(3))) {
      assertThat(disk.size()).isEqualTo(1 << 20);
    }
  }

  /**
   * A chain {@code depth} backing files deep: level0.qcow2 (the base, which writes 0x5b at 0) up to
   * the returned top, level{depth}.qcow2.
   */
  private static Path chain(Path directory, int depth) {
    QemuTools tools = QemuTools.in(directory);
    tools.img("create", "-q", "-f", "qcow2", "level0.qcow2", "1M");
    tools.io("-f", "qcow2", "-c", "write -P 0x5b 0 4k", "level0.qcow2");
    for (int level = 1; level <= depth; level++) {
      tools.img("create", "-q", "-f", "qcow2", "-u", "-b", "level" + (level - 1) + ".qcow2", "-F", "qcow2",
          "level" + level + ".qcow2", "1M");
    }
    return directory.resolve("level" + depth + ".qcow2");
  }

  /**
   * Opens the image and reads all of it, returning what was thrown (null if nothing), and fails
   * if that took more than {@link #ALLOCATION_LIMIT_BYTES} of heap on this thread.
   */
  private static Throwable openAndReadEverything(Path image) {
    long allocatedBefore = allocatedBytes();
    Throwable thrown = null;
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults())) {
      long size = disk.size();
      ByteBuffer buffer = ByteBuffer.allocate((int) Math.min(size, 1 << 20));
      for (long offset = 0; offset < Math.min(size, 16L << 20); offset += buffer.capacity()) {
        buffer.clear().limit((int) Math.min(buffer.capacity(), size - offset));
        disk.readFully(buffer, offset);
      }
    } catch (Throwable t) {
      thrown = t;
    }
    long allocated = allocatedBytes() - allocatedBefore;
    assertThat(allocated).as("heap allocated while refusing %s", image).isLessThan(ALLOCATION_LIMIT_BYTES);
    return thrown;
  }

  private static long allocatedBytes() {
    return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
  }

  private static String[] imageNames(Path directory) throws IOException {
    try (Stream<Path> files = Files.list(directory)) {
      return files.map(file -> file.getFileName().toString()).filter(name -> name.endsWith(".qcow2")).toArray(String[]::new);
    }
  }

  @FunctionalInterface
  interface Patch {
    void apply(ImageBytes bytes) throws IOException;
  }

  /** A copy of {@code base} in {@code directory} named "hostile.qcow2", with {@code patch} applied. */
  private static Path patched(Path directory, Path base, Patch patch) throws IOException {
    Path image = directory.resolve("hostile.qcow2");
    Files.copy(base, image);
    try (ImageBytes bytes = ImageBytes.open(image)) {
      patch.apply(bytes);
    }
    return image;
  }

  private static void extendSparse(ImageBytes bytes, long length) throws IOException {
    if (bytes.fileSize() < length) {
      bytes.putU8(length - 1, 0);
    }
  }

  private static HostileCase corrupt(String name, Maker maker) {
    return new HostileCase(name, CorruptImageException.class, maker);
  }

  private static HostileCase limit(String name, Maker maker) {
    return new HostileCase(name, ImageLimitException.class, maker);
  }

  private static HostileCase unsupported(String name, Maker maker) {
    return new HostileCase(name, UnsupportedFeatureException.class, maker);
  }
}
