package io.qcow4j.qcow2.format;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;

/**
 * The qcow2 header as stored in the first cluster: the fixed fields of versions 2 and 3, the header
 * extensions in their order, and the backing file name. Values are as on disk (v2 images carry the
 * v3 defaults: no features, refcount order 4, header length 72).
 */
public record Header(
    int version,
    long backingFileOffset,
    int backingFileSize,
    int clusterBits,
    long size,
    int cryptMethod,
    int l1Size,
    long l1TableOffset,
    long refcountTableOffset,
    int refcountTableClusters,
    int snapshotCount,
    long snapshotsOffset,
    long incompatibleFeatures,
    long compatibleFeatures,
    long autoclearFeatures,
    int refcountOrder,
    int headerLength,
    int compressionType,
    List<HeaderExtension> extensions,
    String backingFile) {

  public static final int MAGIC = 0x514649fb;
  public static final int V2_LENGTH = 72;
  public static final int V3_MIN_LENGTH = 104;
  public static final int V3_LENGTH = 112;
  public static final int COMPRESSION_ZLIB = 0;
  public static final int COMPRESSION_ZSTD = 1;
  /** crypt_method of the legacy AES-CBC encryption. */
  public static final int CRYPT_AES = 1;
  /** crypt_method of LUKS encryption (the LUKS header in clusters the crypto extension names). */
  public static final int CRYPT_LUKS = 2;

  public Header {
    extensions = List.copyOf(extensions);
  }

  public int clusterSize() {
    return 1 << clusterBits;
  }

  /** Entries in one L2 table: 8 bytes each, 16 with extended L2. */
  public int l2Entries() {
    return clusterSize() / (extendedL2() ? 16 : 8);
  }

  public int refcountBits() {
    return 1 << refcountOrder;
  }

  public boolean extendedL2() {
    return (incompatibleFeatures & Features.INCOMPAT_EXTENDED_L2) != 0;
  }

  public boolean dirty() {
    return (incompatibleFeatures & Features.INCOMPAT_DIRTY) != 0;
  }

  public boolean corrupt() {
    return (incompatibleFeatures & Features.INCOMPAT_CORRUPT) != 0;
  }

  public boolean lazyRefcounts() {
    return (compatibleFeatures & Features.COMPAT_LAZY_REFCOUNTS) != 0;
  }

  public boolean hasDataFile() {
    return (incompatibleFeatures & Features.INCOMPAT_DATA_FILE) != 0;
  }

  public boolean dataFileRaw() {
    return (autoclearFeatures & Features.AUTOCLEAR_DATA_FILE_RAW) != 0;
  }

  public boolean bitmapsValid() {
    return (autoclearFeatures & Features.AUTOCLEAR_BITMAPS) != 0;
  }

  /** The last extension of {@code type}, if any: the one QEMU uses when there are several. */
  public Optional<HeaderExtension> extension(int type) {
    // QEMU reads every extension in turn, each replacing what an earlier one of its type said
    return extensions.stream().filter(extension -> extension.type() == type).reduce((first, second) -> second);
  }

  /** The backing file format recorded in the header extension, if any. */
  public Optional<String> backingFormat() {
    return extension(HeaderExtension.BACKING_FORMAT).map(e -> new String(e.data(), StandardCharsets.UTF_8));
  }

  /** The external data file name recorded in the header extension, if any. */
  public Optional<String> dataFile() {
    return extension(HeaderExtension.EXTERNAL_DATA_FILE).map(e -> new String(e.data(), StandardCharsets.UTF_8));
  }

  /** qemu-img's name for the compat level: "0.10" for v2, "1.1" for v3. */
  public String compat() {
    return version == 2 ? "0.10" : "1.1";
  }

  /** This header with other incompatible feature bits. */
  public Header withIncompatibleFeatures(long bits) {
    return new Header(version, backingFileOffset, backingFileSize, clusterBits, size, cryptMethod, l1Size,
        l1TableOffset, refcountTableOffset, refcountTableClusters, snapshotCount, snapshotsOffset, bits,
        compatibleFeatures, autoclearFeatures, refcountOrder, headerLength, compressionType, extensions, backingFile);
  }

  /** This header with other autoclear feature bits. */
  public Header withAutoclearFeatures(long bits) {
    return new Header(version, backingFileOffset, backingFileSize, clusterBits, size, cryptMethod, l1Size,
        l1TableOffset, refcountTableOffset, refcountTableClusters, snapshotCount, snapshotsOffset,
        incompatibleFeatures, compatibleFeatures, bits, refcountOrder, headerLength, compressionType, extensions,
        backingFile);
  }

  /** This header with the refcount table at another place. */
  public Header withRefcountTable(long offset, int clusters) {
    return withRefcounts(refcountOrder, offset, clusters);
  }

  /** This header with the refcount structures of another width at another place. */
  public Header withRefcounts(int order, long tableOffset, int tableClusters) {
    return new Header(version, backingFileOffset, backingFileSize, clusterBits, size, cryptMethod, l1Size,
        l1TableOffset, tableOffset, tableClusters, snapshotCount, snapshotsOffset, incompatibleFeatures,
        compatibleFeatures, autoclearFeatures, order, headerLength, compressionType, extensions, backingFile);
  }

  /** This header with another snapshot table. */
  public Header withSnapshotTable(int count, long offset) {
    return new Header(version, backingFileOffset, backingFileSize, clusterBits, size, cryptMethod, l1Size,
        l1TableOffset, refcountTableOffset, refcountTableClusters, count, offset, incompatibleFeatures,
        compatibleFeatures, autoclearFeatures, refcountOrder, headerLength, compressionType, extensions, backingFile);
  }

  /** This header with another virtual size and L1 table. */
  public Header withSizeAndL1(long newSize, long l1Offset, int l1Entries) {
    return new Header(version, backingFileOffset, backingFileSize, clusterBits, newSize, cryptMethod, l1Entries,
        l1Offset, refcountTableOffset, refcountTableClusters, snapshotCount, snapshotsOffset, incompatibleFeatures,
        compatibleFeatures, autoclearFeatures, refcountOrder, headerLength, compressionType, extensions, backingFile);
  }

  /** qemu-img's name for the compression type. */
  public String compressionTypeName() {
    return compressionType == COMPRESSION_ZSTD ? "zstd" : "zlib";
  }
}
