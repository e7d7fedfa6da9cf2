package io.qcow4j.qcow2.format;

import static io.qcow4j.qcow2.format.QemuFixtures.be;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Headers made by qemu-img decode to the values at the offsets of docs/interop/qcow2.rst, and encode back to the same bytes. */
class HeaderCodecTest {
  private static final long GIB = 1L << 30;

  @TempDir Path dir;

  @Test
  void decodesVersion2Header() throws IOException {
    Path image = QemuFixtures.create(dir, "v2.qcow2", "compat=0.10", "1G");
    Header header = QemuFixtures.header(image);

    assertThat(header.version()).isEqualTo(2);
    assertThat(header.compat()).isEqualTo("0.10");
    assertThat(header.clusterBits()).isEqualTo(16);
    assertThat(header.size()).isEqualTo(GIB);
    assertThat(header.cryptMethod()).isZero();
    // 1 GiB at 64 KiB clusters: one L2 table maps 8192 * 64 KiB = 512 MiB, so two L1 entries.
    assertThat(header.l1Size()).isEqualTo(2);
    assertThat(header.refcountTableClusters()).isEqualTo(1);
    assertThat(header.snapshotCount()).isZero();
    assertThat(header.snapshotsOffset()).isZero();
    assertThat(header.backingFileOffset()).isZero();
    assertThat(header.backingFile()).isNull();
    // Spec: for version 2 there are no feature bits, refcount_order is assumed 4 and the header is 72 bytes.
    assertThat(header.incompatibleFeatures()).isZero();
    assertThat(header.compatibleFeatures()).isZero();
    assertThat(header.autoclearFeatures()).isZero();
    assertThat(header.refcountOrder()).isEqualTo(4);
    assertThat(header.refcountBits()).isEqualTo(16);
    assertThat(header.headerLength()).isEqualTo(72);
    assertThat(header.compressionType()).isEqualTo(Header.COMPRESSION_ZLIB);
    assertThat(header.extensions()).isEmpty();
    assertFixedFieldsMatchSpecOffsets(image, header);
  }

  @Test
  void decodesVersion3Header() throws IOException {
    Path image = QemuFixtures.create(dir, "v3.qcow2", "", "1G");
    Header header = QemuFixtures.header(image);

    assertThat(header.version()).isEqualTo(3);
    assertThat(header.compat()).isEqualTo("1.1");
    assertThat(header.clusterSize()).isEqualTo(65536);
    assertThat(header.l2Entries()).isEqualTo(8192);
    assertThat(header.size()).isEqualTo(GIB);
    assertThat(header.l1Size()).isEqualTo(2);
    assertThat(header.incompatibleFeatures()).isZero();
    assertThat(header.compatibleFeatures()).isZero();
    assertThat(header.autoclearFeatures()).isZero();
    assertThat(header.refcountOrder()).isEqualTo(4);
    // QEMU writes the 112-byte header: the fields up to header_length plus compression_type and padding.
    assertThat(header.headerLength()).isEqualTo(112);
    assertThat(header.compressionType()).isEqualTo(Header.COMPRESSION_ZLIB);
    assertThat(header.compressionTypeName()).isEqualTo("zlib");
    assertThat(header.dirty()).isFalse();
    assertThat(header.corrupt()).isFalse();
    assertThat(header.lazyRefcounts()).isFalse();
    assertThat(header.extendedL2()).isFalse();
    assertThat(header.hasDataFile()).isFalse();
    assertThat(header.backingFile()).isNull();
    assertThat(header.backingFormat()).isEmpty();
    assertThat(header.extensions()).extracting(HeaderExtension::type).containsExactly(HeaderExtension.FEATURE_NAME_TABLE);
    assertFixedFieldsMatchSpecOffsets(image, header);
  }

  @Test
  void decodesBackingFileAndItsFormat() throws IOException {
    QemuFixtures.create(dir, "base.qcow2", "", "1G");
    QemuFixtures.run(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");
    Path image = dir.resolve("top.qcow2");
    Header header = QemuFixtures.header(image);
    byte[] cluster = QemuFixtures.firstCluster(image);

    assertThat(header.size()).as("size inherited from the backing file").isEqualTo(GIB);
    assertThat(header.backingFile()).isEqualTo("base.qcow2");
    assertThat(header.backingFileSize()).isEqualTo("base.qcow2".length());
    assertThat(header.backingFormat()).contains("qcow2");
    assertThat(header.extensions()).extracting(HeaderExtension::type)
        .containsExactly(HeaderExtension.BACKING_FORMAT, HeaderExtension.FEATURE_NAME_TABLE);
    // The name is not NUL-terminated and lies in the first cluster after the extension area's end marker.
    long nameOffset = be(cluster, 8, 8);
    assertThat(header.backingFileOffset()).isEqualTo(nameOffset);
    assertThat(new String(cluster, (int) nameOffset, (int) be(cluster, 16, 4), StandardCharsets.US_ASCII))
        .isEqualTo("base.qcow2");
    long extensionsEnd = header.headerLength();
    for (HeaderExtension extension : header.extensions()) {
      extensionsEnd += extension.encodedLength();
    }
    assertThat(be(cluster, (int) extensionsEnd, 8)).as("end-of-extensions marker").isZero();
    assertThat(nameOffset).isGreaterThanOrEqualTo(extensionsEnd + 8);
    assertFixedFieldsMatchSpecOffsets(image, header);
  }

  @Test
  void decodesZstdCompressionType() throws IOException {
    Path image = QemuFixtures.create(dir, "zstd.qcow2", "compression_type=zstd", "1G");
    Header header = QemuFixtures.header(image);

    assertThat(header.incompatibleFeatures()).isEqualTo(Features.INCOMPAT_COMPRESSION_TYPE);
    assertThat(header.compressionType()).isEqualTo(Header.COMPRESSION_ZSTD);
    assertThat(header.compressionTypeName()).isEqualTo("zstd");
    assertThat(QemuFixtures.firstCluster(image)[104]).isEqualTo((byte) 1);
    assertFixedFieldsMatchSpecOffsets(image, header);
  }

  @Test
  void decodesExtendedL2() throws IOException {
    Path image = QemuFixtures.create(dir, "extl2.qcow2", "extended_l2=on", "1G");
    Header header = QemuFixtures.header(image);

    assertThat(header.incompatibleFeatures()).isEqualTo(Features.INCOMPAT_EXTENDED_L2);
    assertThat(header.extendedL2()).isTrue();
    // 128-bit entries: 4096 per 64 KiB table, 256 MiB per L1 entry, so four L1 entries for 1 GiB.
    assertThat(header.l2Entries()).isEqualTo(4096);
    assertThat(header.l1Size()).isEqualTo(4);
    assertFixedFieldsMatchSpecOffsets(image, header);
  }

  @Test
  void decodesExternalDataFile() throws IOException {
    Path image = QemuFixtures.create(dir, "meta.qcow2", "data_file=data.raw", "16M");
    Header header = QemuFixtures.header(image);

    assertThat(header.incompatibleFeatures()).isEqualTo(Features.INCOMPAT_DATA_FILE);
    assertThat(header.hasDataFile()).isTrue();
    assertThat(header.dataFileRaw()).isFalse();
    assertThat(header.dataFile()).contains("data.raw");
    assertThat(header.extensions()).extracting(HeaderExtension::type)
        .containsExactly(HeaderExtension.EXTERNAL_DATA_FILE, HeaderExtension.FEATURE_NAME_TABLE);
    assertFixedFieldsMatchSpecOffsets(image, header);
  }

  @Test
  void decodesRawExternalDataFile() throws IOException {
    Path image = QemuFixtures.create(dir, "meta.qcow2", "data_file=data.raw,data_file_raw=on", "16M");
    Header header = QemuFixtures.header(image);

    assertThat(header.incompatibleFeatures()).isEqualTo(Features.INCOMPAT_DATA_FILE);
    assertThat(header.autoclearFeatures()).isEqualTo(Features.AUTOCLEAR_DATA_FILE_RAW);
    assertThat(header.dataFileRaw()).isTrue();
    assertThat(header.dataFile()).contains("data.raw");
    assertFixedFieldsMatchSpecOffsets(image, header);
  }

  @Test
  void decodesLazyRefcounts() throws IOException {
    Path image = QemuFixtures.create(dir, "lazy.qcow2", "lazy_refcounts=on", "1G");
    Header header = QemuFixtures.header(image);

    assertThat(header.compatibleFeatures()).isEqualTo(Features.COMPAT_LAZY_REFCOUNTS);
    assertThat(header.lazyRefcounts()).isTrue();
    assertFixedFieldsMatchSpecOffsets(image, header);
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 2, 4, 8, 16, 32, 64})
  void decodesRefcountOrder(int refcountBits) throws IOException {
    Path image = QemuFixtures.create(dir, "rc.qcow2", "refcount_bits=" + refcountBits, "1G");
    Header header = QemuFixtures.header(image);

    assertThat(header.refcountBits()).isEqualTo(refcountBits);
    assertThat(1 << header.refcountOrder()).isEqualTo(refcountBits);
    assertFixedFieldsMatchSpecOffsets(image, header);
  }

  @ParameterizedTest
  @ValueSource(ints = {9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21})
  void decodesEveryClusterSize(int clusterBits) throws IOException {
    int clusterSize = 1 << clusterBits;
    Path image = QemuFixtures.create(dir, "cs.qcow2", "cluster_size=" + clusterSize, "3G");
    Header header = QemuFixtures.header(image);

    assertThat(header.clusterBits()).isEqualTo(clusterBits);
    assertThat(header.clusterSize()).isEqualTo(clusterSize);
    long bytesPerL2Table = (long) (clusterSize / 8) * clusterSize;
    assertThat(header.l1Size()).isEqualTo((int) ((3 * GIB + bytesPerL2Table - 1) / bytesPerL2Table));
    assertThat(header.l1TableOffset() % clusterSize).isZero();
    assertThat(header.refcountTableOffset() % clusterSize).isZero();
    assertFixedFieldsMatchSpecOffsets(image, header);
    assertEncodesToQemuBytes(image, header);
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "compat=0.10", "compat=1.1", "compression_type=zstd", "extended_l2=on", "lazy_refcounts=on",
      "data_file=data.raw", "data_file=data.raw,data_file_raw=on", "refcount_bits=1", "cluster_size=512",
      "cluster_size=2M,extended_l2=on"})
  void encodesQemuHeadersBackToTheSameBytes(String options) throws IOException {
    Path image = QemuFixtures.create(dir, "image.qcow2", options, "16M");
    assertEncodesToQemuBytes(image, QemuFixtures.header(image));
  }

  @Test
  void encodesBackedHeaderBackToTheSameBytes() throws IOException {
    QemuFixtures.create(dir, "base.qcow2", "", "1M");
    QemuFixtures.run(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
        "-o", "compression_type=zstd", "top.qcow2", "8M");
    Path image = dir.resolve("top.qcow2");
    Header header = QemuFixtures.header(image);
    assertThat(header.backingFile()).isEqualTo("base.qcow2");
    assertThat(header.size()).isEqualTo(8L << 20);
    assertEncodesToQemuBytes(image, header);
  }

  @Test
  void clusterSizeOfReadsTheFixedPartOnly() throws IOException {
    Path image = QemuFixtures.create(dir, "cs.qcow2", "cluster_size=4096", "1M");
    byte[] fixed = QemuFixtures.read(image, 0, HeaderCodec.FIXED_PART_BYTES);
    assertThat(HeaderCodec.clusterSizeOf(image.toString(), ByteBuffer.wrap(fixed))).isEqualTo(4096);
    // A buffer whose position is not 0 is read from its position.
    ByteBuffer shifted = ByteBuffer.allocate(fixed.length + 5).position(5);
    shifted.put(fixed).position(5);
    assertThat(HeaderCodec.clusterSizeOf(image.toString(), shifted)).isEqualTo(4096);
    assertThat(shifted.position()).isEqualTo(5);
  }

  @Test
  void keepsUnknownExtensionsInOrder() throws IOException {
    HeaderExtension unknownFirst = new HeaderExtension(0x12345678, new byte[] {1, 2, 3});
    HeaderExtension unknownEmpty = new HeaderExtension(0x0badcafe, new byte[0]);
    HeaderExtension format = new HeaderExtension(HeaderExtension.BACKING_FORMAT, "raw".getBytes(StandardCharsets.UTF_8));
    Header header = new Header(3, 0, 0, 16, GIB, 0, 2, 0x30000, 0x10000, 1, 0, 0, 0, 0, 0, 4, 112, 0,
        List.of(unknownFirst, format, unknownEmpty), null);
    byte[] encoded = HeaderCodec.encode(header);
    Header decoded = decode(encoded, 16, 0x40000);

    assertThat(decoded.extensions()).containsExactly(unknownFirst, format, unknownEmpty);
    // Data padded to 8 bytes: 112 + (8 + 8) + (8 + 8) + (8 + 0) + end marker (8).
    assertThat(encoded).hasSize(112 + 16 + 16 + 8 + 8);
    assertThat(be(encoded, 112, 4)).isEqualTo(0x12345678L);
    assertThat(be(encoded, 116, 4)).isEqualTo(3);
  }

  /** QEMU reads every extension in turn: of two backing format extensions, the second one counts (iotest 114). */
  @Test
  void theLastExtensionOfATypeIsTheOneUsed() throws IOException {
    HeaderExtension first = new HeaderExtension(HeaderExtension.BACKING_FORMAT, "qcow2".getBytes(StandardCharsets.UTF_8));
    HeaderExtension second = new HeaderExtension(HeaderExtension.BACKING_FORMAT, "foo".getBytes(StandardCharsets.UTF_8));
    Header header = new Header(3, 0, 0, 16, GIB, 0, 2, 0x30000, 0x10000, 1, 0, 0, 0, 0, 0, 4, 112, 0,
        List.of(first, second), null);
    Header decoded = decode(HeaderCodec.encode(header), 16, 0x40000);
    assertThat(decoded.backingFormat()).contains("foo");
  }

  @Test
  void roundTripsVersion2WithBackingFile() throws IOException {
    Header header = new Header(2, 0, 0, 12, 1L << 20, 0, 1, 3 << 12, 1 << 12, 1, 0, 0, 0, 0, 0, 4, 72, 0,
        List.of(), "dir/base image.raw");
    byte[] encoded = HeaderCodec.encode(header);
    Header decoded = decode(encoded, 12, 4 << 12);

    assertThat(decoded.version()).isEqualTo(2);
    assertThat(decoded.backingFile()).isEqualTo("dir/base image.raw");
    assertThat(decoded.backingFileOffset()).isEqualTo(80);
    assertThat(decoded.backingFileSize()).isEqualTo(18);
    assertThat(decoded.headerLength()).isEqualTo(72);
    assertThat(HeaderCodec.encode(decoded)).isEqualTo(encoded);
  }

  @Test
  void roundTripsHeaderLength104WithoutCompressionField() throws IOException {
    Header header = new Header(3, 0, 0, 16, GIB, 0, 2, 0x30000, 0x10000, 1, 0, 0, 0, 0, 0, 4, 104, 0, List.of(), null);
    byte[] encoded = HeaderCodec.encode(header);
    Header decoded = decode(encoded, 16, 0x40000);

    assertThat(decoded.headerLength()).isEqualTo(104);
    assertThat(decoded.compressionType()).isZero();
    assertThat(be(encoded, 104, 8)).as("end marker right after a 104-byte header").isZero();
    assertThat(decoded).isEqualTo(header);
  }

  @Test
  void ignoresAdditionalFieldsBeyondCompressionType() throws IOException {
    // Spec: unknown additional fields may be ignored when no unknown incompatible bit is set.
    Header header = new Header(3, 0, 0, 16, GIB, 0, 2, 0x30000, 0x10000, 1, 0, 0, 0, 0, 0, 4, 128, 0, List.of(), null);
    byte[] encoded = HeaderCodec.encode(header);
    Arrays.fill(encoded, 112, 128, (byte) 0x5a);
    Header decoded = decode(encoded, 16, 0x40000);

    assertThat(decoded.headerLength()).isEqualTo(128);
    assertThat(decoded.extensions()).isEmpty();
  }

  @Test
  void stopsExtensionsAtTheBackingFileName() throws IOException {
    // No end marker: the area ends where the backing file name begins.
    Header header = new Header(3, 0, 0, 16, GIB, 0, 2, 0x30000, 0x10000, 1, 0, 0, 0, 0, 0, 4, 112, 0,
        List.of(new HeaderExtension(HeaderExtension.BACKING_FORMAT, "qcow2".getBytes(StandardCharsets.UTF_8))),
        "base");
    byte[] encoded = HeaderCodec.encode(header);
    ByteBuffer buffer = ByteBuffer.wrap(encoded);
    int nameOffset = 112 + 16;
    buffer.putLong(8, nameOffset);
    buffer.put(nameOffset, "base".getBytes(StandardCharsets.UTF_8));
    Header decoded = decode(encoded, 16, 0x40000);

    assertThat(decoded.backingFile()).isEqualTo("base");
    assertThat(decoded.backingFormat()).contains("qcow2");
    assertThat(decoded.extensions()).hasSize(1);
  }

  /** Every fixed field of the record equals the big-endian value at its offset in the spec's table. */
  static void assertFixedFieldsMatchSpecOffsets(Path image, Header header) {
    byte[] raw = QemuFixtures.firstCluster(image);
    assertThat(be(raw, 0, 4)).as("magic QFI\\xfb").isEqualTo(0x514649fbL);
    assertThat(header.version()).isEqualTo((int) be(raw, 4, 4));
    assertThat(header.backingFileOffset()).isEqualTo(be(raw, 8, 8));
    assertThat(header.backingFileSize()).isEqualTo((int) be(raw, 16, 4));
    assertThat(header.clusterBits()).isEqualTo((int) be(raw, 20, 4));
    assertThat(header.size()).isEqualTo(be(raw, 24, 8));
    assertThat(header.cryptMethod()).isEqualTo((int) be(raw, 32, 4));
    assertThat(header.l1Size()).isEqualTo((int) be(raw, 36, 4));
    assertThat(header.l1TableOffset()).isEqualTo(be(raw, 40, 8));
    assertThat(header.refcountTableOffset()).isEqualTo(be(raw, 48, 8));
    assertThat(header.refcountTableClusters()).isEqualTo((int) be(raw, 56, 4));
    assertThat(header.snapshotCount()).isEqualTo((int) be(raw, 60, 4));
    assertThat(header.snapshotsOffset()).isEqualTo(be(raw, 64, 8));
    if (header.version() >= 3) {
      assertThat(header.incompatibleFeatures()).isEqualTo(be(raw, 72, 8));
      assertThat(header.compatibleFeatures()).isEqualTo(be(raw, 80, 8));
      assertThat(header.autoclearFeatures()).isEqualTo(be(raw, 88, 8));
      assertThat(header.refcountOrder()).isEqualTo((int) be(raw, 96, 4));
      assertThat(header.headerLength()).isEqualTo((int) be(raw, 100, 4));
      if (header.headerLength() > 104) {
        assertThat(header.compressionType()).isEqualTo((int) be(raw, 104, 1));
      }
    }
  }

  /** encode() gives QEMU's header bytes, the rest of the cluster is zero, and decoding them gives the header again. */
  private static void assertEncodesToQemuBytes(Path image, Header header) throws IOException {
    byte[] raw = QemuFixtures.firstCluster(image);
    byte[] encoded = HeaderCodec.encode(header);
    assertThat(encoded).isEqualTo(Arrays.copyOf(raw, encoded.length));
    for (int at = encoded.length; at < raw.length; at++) {
      if (raw[at] != 0) {
        throw new AssertionError("QEMU wrote byte " + raw[at] + " at " + at + ", after our encoded header");
      }
    }
    Header again = HeaderCodec.decode(image.toString(), ByteBuffer.wrap(raw), QemuFixtures.size(image));
    assertThat(again).isEqualTo(header);
  }

  private static Header decode(byte[] encoded, int clusterBits, long fileSize) throws IOException {
    byte[] cluster = Arrays.copyOf(encoded, 1 << clusterBits);
    return HeaderCodec.decode("test.qcow2", ByteBuffer.wrap(cluster), fileSize);
  }
}
