package io.qcow4j.qcow2.format;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.UnsupportedFeatureException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every check of {@link HeaderCodec#decode}: a valid v3 header with one field broken at its spec
 * offset is refused with the right exception type, and the message names the file and the field.
 */
class HeaderValidationTest {
  private static final String FILE = "images/hostile.qcow2";
  private static final int CLUSTER_BITS = 16;
  private static final int CLUSTER = 1 << CLUSTER_BITS;
  /** Header, refcount table, refcount block, L1 table: QEMU's layout of a fresh image. */
  private static final long FILE_SIZE = 4L * CLUSTER;

  /** One broken header: what to change, how long the file is, what must be thrown and said. */
  record Case(String name, Consumer<ByteBuffer> change, int bufferLength, long fileSize,
      Class<? extends IOException> thrown, List<String> fragments) {
    @Override
    public String toString() {
      return name;
    }
  }

  private static Case corrupt(String name, Consumer<ByteBuffer> change, String... fragments) {
    return new Case(name, change, CLUSTER, FILE_SIZE, CorruptImageException.class, List.of(fragments));
  }

  private static Case limit(String name, Consumer<ByteBuffer> change, String... fragments) {
    return new Case(name, change, CLUSTER, FILE_SIZE, ImageLimitException.class, List.of(fragments));
  }

  private static Case unsupported(String name, Consumer<ByteBuffer> change, String... fragments) {
    return new Case(name, change, CLUSTER, FILE_SIZE, UnsupportedFeatureException.class, List.of(fragments));
  }

  static Stream<Case> brokenHeaders() {
    return Stream.of(
        new Case("shorter than a v2 header", b -> {}, 71, FILE_SIZE, CorruptImageException.class,
            List.of("too short", "71 bytes")),
        new Case("v3 shorter than 104 bytes", b -> {}, 100, FILE_SIZE, CorruptImageException.class,
            List.of("too short", "104")),
        corrupt("bad magic", b -> b.putInt(0, 0x514649fa), "Image is not in qcow2 format"),
        corrupt("qcow v1 magic", b -> b.putInt(0, 0x514649fb - 0x100), "Image is not in qcow2 format"),
        unsupported("version 1", b -> b.putInt(4, 1), "Unsupported qcow2 version 1"),
        unsupported("version 4", b -> b.putInt(4, 4), "Unsupported qcow2 version 4"),
        // The spec forbids clusters below 512 bytes and refcounts over 64 bits: corruption, not a limit.
        corrupt("cluster_bits 8", b -> b.putInt(20, 8), "Unsupported cluster size: 2^8"),
        limit("cluster_bits 22", b -> b.putInt(20, 22), "Unsupported cluster size: 2^22"),
        corrupt("cluster_bits negative", b -> b.putInt(20, -1), "Unsupported cluster size: 2^4294967295"),
        corrupt("header_length 96", b -> b.putInt(100, 96), "qcow2 header too short"),
        corrupt("header_length not a multiple of 8", b -> b.putInt(100, 108), "header_length 108", "offset 100"),
        corrupt("header_length negative", b -> b.putInt(100, -8), "qcow2 header exceeds cluster size"),
        corrupt("header_length past the cluster", b -> b.putInt(100, CLUSTER + 8), "qcow2 header exceeds cluster size"),
        corrupt("header_length of the whole cluster", b -> b.putInt(100, CLUSTER), "header_length 65536", "offset 100",
            "no room"),
        // An extension that ends the cluster exactly (no end marker, which QEMU reads): no room to write one back.
        corrupt("header_length leaving no room for an end marker after the extensions",
            b -> b.putInt(100, CLUSTER - 16).putInt(CLUSTER - 16, 0x7e57e8d0).putInt(CLUSTER - 12, 8),
            "header_length 65520", "offset 100", "65544 bytes"),
        new Case("header_length past a short file", b -> b.putInt(100, 1024), 512, FILE_SIZE,
            CorruptImageException.class, List.of("header_length 1024", "offset 100")),
        unsupported("unknown encryption", b -> b.putInt(32, 3), "Unsupported encryption method 3"),
        corrupt("refcount_order 7", b -> b.putInt(96, 7), "Reference count entry width too large; may not exceed 64 bits"),
        corrupt("refcount_order negative", b -> b.putInt(96, -1), "Reference count entry width too large"),
        limit("size negative", b -> b.putLong(24, -1), "size 18446744073709551615", "offset 24"),
        limit("size over 2^61", b -> b.putLong(24, (1L << 61) + 1), "size", "offset 24"),
        corrupt("extension longer than the cluster",
            b -> b.putInt(112, 0x12345678).putInt(116, CLUSTER), "Header extension too large"),
        corrupt("extension length beyond 2^31", b -> b.putInt(112, 0x12345678).putInt(116, 0x80000000),
            "Header extension too large"),
        new Case("extension cut by a short file", b -> b.putInt(112, 0x12345678).putInt(116, 64), 160, FILE_SIZE,
            CorruptImageException.class, List.of("Header extension too large")),
        corrupt("extension header cut by the backing file name", b -> {
          b.putLong(8, 116).putInt(16, 4).put(116, "base".getBytes(StandardCharsets.UTF_8));
          b.putInt(112, 0x12345678);
        }, "Header extension too large"),
        unsupported("unknown incompatible bit", b -> b.putLong(72, 1L << 5), "Unsupported qcow2 feature(s): Unknown incompatible feature: 20"),
        unsupported("unknown incompatible bit 63", b -> b.putLong(72, 1L << 63 | 1),
            "Unsupported qcow2 feature(s): Unknown incompatible feature: 8000000000000000"),
        unsupported("unknown incompatible bit named by the table", b -> {
          b.putLong(72, 1L << 7);
          b.putInt(112, HeaderExtension.FEATURE_NAME_TABLE).putInt(116, 48);
          b.put(120, (byte) 0).put(121, (byte) 7).put(122, "frobnication".getBytes(StandardCharsets.UTF_8));
        }, "Unsupported qcow2 feature(s): frobnication"),
        // QEMU's reading: an entry cut short by the extension's end is zero-padded; names in table order
        unsupported("a cut table entry names its bit, table order", b -> {
          b.putLong(72, 1L << 7 | 1L << 9 | 1L << 40);
          b.putInt(112, HeaderExtension.FEATURE_NAME_TABLE).putInt(116, 48 + 14);
          b.put(120, (byte) 0).put(121, (byte) 9).put(122, "nine".getBytes(StandardCharsets.UTF_8));
          b.put(168, (byte) 0).put(169, (byte) 7).put(170, "Test feature".getBytes(StandardCharsets.UTF_8));
        }, "Unsupported qcow2 feature(s): nine, Test feature, Unknown incompatible feature: 10000000000"),
        corrupt("extended L2 with 8 KiB clusters", b -> {
          b.putInt(20, 13).putLong(72, Features.INCOMPAT_EXTENDED_L2).putInt(36, 1 << 11);
          b.putLong(40, 0x30000);
        }, "extended L2", "cluster_bits", "offset 20"),
        // QEMU's validate_compression_type words, as qemu-img prints them
        unsupported("compression_type 2", b -> b.putLong(72, Features.INCOMPAT_COMPRESSION_TYPE).put(104, (byte) 2),
            "qcow2: unknown compression type: 2"),
        corrupt("compression bit with compression_type 0", b -> b.putLong(72, Features.INCOMPAT_COMPRESSION_TYPE),
            "qcow2: Compression type incompatible feature bit must not be set"),
        corrupt("compression bit without the compression_type field",
            b -> b.putLong(72, Features.INCOMPAT_COMPRESSION_TYPE).putInt(100, 104),
            "qcow2: Compression type incompatible feature bit must not be set"),
        corrupt("zstd without the compression bit", b -> b.put(104, (byte) 1),
            "qcow2: Compression type incompatible feature bit must be set"),
        limit("L1 table over 32 MiB", b -> b.putInt(36, (32 << 20) / 8 + 1), "Active L1 table too large"),
        limit("L1 size negative", b -> b.putInt(36, -1), "Active L1 table too large"),
        corrupt("L1 table too small for the size", b -> b.putInt(36, 1), "L1 table is too small"),
        corrupt("L1 table at offset 0", b -> b.putLong(40, 0), "l1_table_offset", "offset 40"),
        corrupt("L1 table unaligned", b -> b.putLong(40, 0x30200), "Active L1 table offset invalid"),
        corrupt("L1 table past the end", b -> b.putLong(40, 0x40000), "l1_table_offset", "offset 40"),
        corrupt("L1 table offset near 2^63", b -> b.putLong(40, Long.MAX_VALUE & ~0xffffL), "l1_table_offset",
            "offset 40"),
        corrupt("L1 table offset negative", b -> b.putLong(40, Long.MIN_VALUE), "Active L1 table offset invalid"),
        limit("refcount table over 8 MiB", b -> b.putInt(56, 129), "Reference count table too large"),
        limit("refcount table clusters negative", b -> b.putInt(56, -1), "Reference count table too large"),
        corrupt("refcount table empty", b -> b.putInt(56, 0), "Image does not contain a reference count table"),
        corrupt("refcount table at offset 0", b -> b.putLong(48, 0), "refcount_table_offset", "offset 48"),
        corrupt("refcount table unaligned", b -> b.putLong(48, 0x10008), "Reference count table offset invalid"),
        corrupt("refcount table past the end", b -> b.putInt(56, 4), "refcount_table_offset", "offset 48"),
        // The snapshot table fields are refused with QEMU's words (qcow2_validate_table); a table at
        // offset 0 or past the end of the file is read as QEMU reads it (SnapshotTableHeaderTest).
        limit("over 65536 snapshots", b -> b.putInt(60, 65537).putLong(64, 0x30000), "Snapshot table too large"),
        limit("snapshot count negative", b -> b.putInt(60, -1).putLong(64, 0x30000), "Snapshot table too large"),
        corrupt("snapshot table unaligned", b -> b.putInt(60, 1).putLong(64, 0x30001), "Snapshot table offset invalid"),
        corrupt("snapshot table unaligned without snapshots", b -> b.putLong(64, 0x30001),
            "Snapshot table offset invalid"),
        corrupt("snapshot table offset negative", b -> b.putLong(64, Long.MIN_VALUE), "Snapshot table offset invalid"),
        corrupt("snapshot table without room below 2^63", b -> b.putInt(60, 0xffff).putLong(64, 0xffffffffffff0000L),
            "Snapshot table offset invalid"),
        limit("backing file name over 1023 bytes", b -> b.putLong(8, 0x200).putInt(16, 1024),
            "Backing file name too long"),
        limit("backing file name length negative", b -> b.putLong(8, 0x200).putInt(16, -1),
            "Backing file name too long"),
        corrupt("backing file name past the cluster", b -> b.putLong(8, CLUSTER - 10).putInt(16, 20),
            "backing file name", "offset " + (CLUSTER - 10)),
        new Case("backing file name past a short file", b -> b.putLong(8, 500).putInt(16, 20), 512, FILE_SIZE,
            CorruptImageException.class, List.of("backing file name", "offset 500")),
        unsupported("backing file name not UTF-8",
            b -> b.putLong(8, 0x200).putInt(16, 3).put(0x200, new byte[] {'b', (byte) 0xff, 'a'}),
            "backing file name", "offset 512", "UTF-8"),
        corrupt("backing file offset negative", b -> b.putLong(8, -8).putInt(16, 4),
            "Invalid backing file offset"),
        corrupt("backing file offset near 2^63", b -> b.putLong(8, Long.MAX_VALUE - 5).putInt(16, 10),
            "Invalid backing file offset"));
  }

  @ParameterizedTest
  @MethodSource("brokenHeaders")
  void refusesBrokenHeader(Case broken) {
    ByteBuffer buffer = ByteBuffer.wrap(validHeader());
    broken.change().accept(buffer);
    ByteBuffer firstCluster = ByteBuffer.wrap(Arrays.copyOf(buffer.array(), broken.bufferLength()));

    assertThatThrownBy(() -> HeaderCodec.decode(FILE, firstCluster, broken.fileSize()))
        .isExactlyInstanceOf(broken.thrown())
        .hasMessageStartingWith(FILE + ": ")
        .satisfies(e -> assertThat(e.getMessage()).contains(broken.fragments()));
  }

  @Test
  void validHeaderDecodes() throws IOException {
    Header header = HeaderCodec.decode(FILE, ByteBuffer.wrap(validHeader()), FILE_SIZE);
    assertThat(header.l1Size()).isEqualTo(2);
    assertThat(header.size()).isEqualTo(1L << 30);
  }

  @Test
  void clusterSizeOfChecksMagicVersionAndClusterBits() {
    byte[] header = validHeader();
    ByteBuffer.wrap(header).putInt(20, 22);
    assertThatThrownBy(() -> HeaderCodec.clusterSizeOf(FILE, ByteBuffer.wrap(header, 0, 112)))
        .isExactlyInstanceOf(ImageLimitException.class).hasMessage(FILE + ": Unsupported cluster size: 2^22");
    ByteBuffer.wrap(header).putInt(4, 1);
    assertThatThrownBy(() -> HeaderCodec.clusterSizeOf(FILE, ByteBuffer.wrap(header, 0, 112)))
        .isExactlyInstanceOf(UnsupportedFeatureException.class).hasMessageContaining(FILE);
    ByteBuffer.wrap(header).putInt(0, 0);
    assertThatThrownBy(() -> HeaderCodec.clusterSizeOf(FILE, ByteBuffer.wrap(header, 0, 112)))
        .isExactlyInstanceOf(CorruptImageException.class).hasMessage(FILE + ": Image is not in qcow2 format");
    assertThatThrownBy(() -> HeaderCodec.clusterSizeOf(FILE, ByteBuffer.wrap(validHeader(), 0, 40)))
        .isExactlyInstanceOf(CorruptImageException.class).hasMessageContaining(FILE);
  }

  @Test
  void acceptsTheLimitsThemselves() throws IOException {
    ByteBuffer buffer = ByteBuffer.wrap(validHeader());
    buffer.putLong(8, 0x200).putInt(16, 1023);
    buffer.putInt(60, 65536).putLong(64, 0x30000);
    buffer.putInt(96, 6).putInt(56, 128).putLong(48, 0x10000);
    Header header = HeaderCodec.decode(FILE, buffer, 0x10000 + 128L * CLUSTER);
    assertThat(header.backingFile()).hasSize(1023);
    assertThat(header.snapshotCount()).isEqualTo(65536);
    assertThat(header.refcountBits()).isEqualTo(64);
    assertThat(header.refcountTableClusters()).isEqualTo(128);

    buffer = ByteBuffer.wrap(validHeader());
    buffer.putInt(96, 0).putInt(60, 0).putLong(64, 0);
    header = HeaderCodec.decode(FILE, buffer, FILE_SIZE);
    assertThat(header.refcountBits()).isEqualTo(1);
    assertThat(header.snapshotCount()).isZero();
  }

  @Test
  void acceptsTheLargestVirtualSizeWith2MiBClusters() throws IOException {
    // Spec: with 2 MiB clusters and QEMU's 32 MiB L1 limit, 2^61 bytes are addressable: 2^22 entries.
    int clusterBits = 21;
    long cluster = 1L << clusterBits;
    Header template = new Header(3, 0, 0, clusterBits, 1L << 61, 0, 1 << 22, 3 * cluster, cluster, 1, 0, 0, 0, 0, 0,
        4, 112, 0, List.of(), null);
    byte[] cluster0 = Arrays.copyOf(HeaderCodec.encode(template), (int) cluster);
    Header header = HeaderCodec.decode(FILE, ByteBuffer.wrap(cluster0), 3 * cluster + (32L << 20));
    assertThat(header.size()).isEqualTo(1L << 61);

    ByteBuffer.wrap(cluster0).putLong(24, (1L << 61) + 1);
    assertThatThrownBy(() -> HeaderCodec.decode(FILE, ByteBuffer.wrap(cluster0), 3 * cluster + (32L << 20)))
        .isExactlyInstanceOf(ImageLimitException.class).hasMessageContaining("offset 24");
  }

  @Test
  void decodesUtf8BackingFileName() throws IOException {
    byte[] name = "dir/bäse ✓.qcow2".getBytes(StandardCharsets.UTF_8);
    ByteBuffer buffer = ByteBuffer.wrap(validHeader());
    buffer.putLong(8, 0x200).putInt(16, name.length).put(0x200, name);
    assertThat(HeaderCodec.decode(FILE, buffer, FILE_SIZE).backingFile()).isEqualTo("dir/bäse ✓.qcow2");
  }

  @Test
  void clearsRawDataFileBitWithoutDataFile() throws IOException {
    // Spec: the raw external data bit may only be set together with the external data file bit.
    ByteBuffer buffer = ByteBuffer.wrap(validHeader());
    buffer.putLong(88, Features.AUTOCLEAR_DATA_FILE_RAW | Features.AUTOCLEAR_BITMAPS);
    Header header = HeaderCodec.decode(FILE, buffer, FILE_SIZE);
    assertThat(header.dataFileRaw()).isFalse();
    assertThat(header.autoclearFeatures()).isEqualTo(Features.AUTOCLEAR_BITMAPS);
  }

  @Test
  void keepsUnknownCompatibleAndAutoclearBits() throws IOException {
    // Spec: unknown compatible bits may be ignored; unknown autoclear bits are cleared only when writing.
    ByteBuffer buffer = ByteBuffer.wrap(validHeader());
    buffer.putLong(80, 1L << 40 | Features.COMPAT_LAZY_REFCOUNTS).putLong(88, 1L << 33);
    Header header = HeaderCodec.decode(FILE, buffer, FILE_SIZE);
    assertThat(header.compatibleFeatures()).isEqualTo(1L << 40 | Features.COMPAT_LAZY_REFCOUNTS);
    assertThat(header.autoclearFeatures()).isEqualTo(1L << 33);
  }

  @Test
  void acceptsDirtyAndCorruptBits() throws IOException {
    ByteBuffer buffer = ByteBuffer.wrap(validHeader());
    buffer.putLong(72, Features.INCOMPAT_DIRTY | Features.INCOMPAT_CORRUPT);
    Header header = HeaderCodec.decode(FILE, buffer, FILE_SIZE);
    assertThat(header.dirty()).isTrue();
    assertThat(header.corrupt()).isTrue();
  }

  @Test
  void acceptsAnEmptyL1TableAnywhere() throws IOException {
    // A zero-sized image needs no L1 entries; QEMU leaves l1_table_offset pointing past the header.
    ByteBuffer buffer = ByteBuffer.wrap(validHeader());
    buffer.putLong(24, 0).putInt(36, 0).putLong(40, 0);
    Header header = HeaderCodec.decode(FILE, buffer, FILE_SIZE);
    assertThat(header.l1Size()).isZero();
  }

  /** A valid v3 header at 64 KiB clusters for 1 GiB, QEMU's fresh layout, in a whole first cluster. */
  static byte[] validHeader() {
    Header header = new Header(3, 0, 0, CLUSTER_BITS, 1L << 30, 0, 2, 3L * CLUSTER, CLUSTER, 1, 0, 0, 0, 0, 0, 4, 112,
        0, List.of(), null);
    return Arrays.copyOf(HeaderCodec.encode(header), CLUSTER);
  }
}
