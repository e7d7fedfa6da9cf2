package io.qcow4j.disk;

/**
 * What a new image looks like, with qemu-img create's options and defaults: 64 KiB clusters,
 * compat 1.1, 16-bit refcounts, zlib compression, no preallocation. {@code backingFile} is recorded
 * as given; {@code dataFile} is created beside the image when relative.
 */
public record CreateOptions(
    long size,
    int clusterSize,
    String compat,
    int refcountBits,
    boolean lazyRefcounts,
    boolean extendedL2,
    String compressionType,
    Preallocation preallocation,
    String dataFile,
    boolean dataFileRaw,
    String backingFile,
    String backingFormat) {

  /** qemu-img's defaults for an image of {@code size} bytes. */
  public static CreateOptions of(long size) {
    return new CreateOptions(size, 65536, "1.1", 16, false, false, "zlib", Preallocation.OFF, null, false, null, null);
  }

  public CreateOptions withSize(long value) {
    return new CreateOptions(value, clusterSize, compat, refcountBits, lazyRefcounts, extendedL2, compressionType,
        preallocation, dataFile, dataFileRaw, backingFile, backingFormat);
  }

  public CreateOptions withClusterSize(int value) {
    return new CreateOptions(size, value, compat, refcountBits, lazyRefcounts, extendedL2, compressionType,
        preallocation, dataFile, dataFileRaw, backingFile, backingFormat);
  }

  public CreateOptions withCompat(String value) {
    return new CreateOptions(size, clusterSize, value, refcountBits, lazyRefcounts, extendedL2, compressionType,
        preallocation, dataFile, dataFileRaw, backingFile, backingFormat);
  }

  public CreateOptions withRefcountBits(int value) {
    return new CreateOptions(size, clusterSize, compat, value, lazyRefcounts, extendedL2, compressionType,
        preallocation, dataFile, dataFileRaw, backingFile, backingFormat);
  }

  public CreateOptions withLazyRefcounts(boolean value) {
    return new CreateOptions(size, clusterSize, compat, refcountBits, value, extendedL2, compressionType,
        preallocation, dataFile, dataFileRaw, backingFile, backingFormat);
  }

  public CreateOptions withExtendedL2(boolean value) {
    return new CreateOptions(size, clusterSize, compat, refcountBits, lazyRefcounts, value, compressionType,
        preallocation, dataFile, dataFileRaw, backingFile, backingFormat);
  }

  public CreateOptions withCompressionType(String value) {
    return new CreateOptions(size, clusterSize, compat, refcountBits, lazyRefcounts, extendedL2, value,
        preallocation, dataFile, dataFileRaw, backingFile, backingFormat);
  }

  public CreateOptions withPreallocation(Preallocation value) {
    return new CreateOptions(size, clusterSize, compat, refcountBits, lazyRefcounts, extendedL2, compressionType,
        value, dataFile, dataFileRaw, backingFile, backingFormat);
  }

  public CreateOptions withDataFile(String file, boolean raw) {
    return new CreateOptions(size, clusterSize, compat, refcountBits, lazyRefcounts, extendedL2, compressionType,
        preallocation, file, raw, backingFile, backingFormat);
  }

  public CreateOptions withBacking(String file, String format) {
    return new CreateOptions(size, clusterSize, compat, refcountBits, lazyRefcounts, extendedL2, compressionType,
        preallocation, dataFile, dataFileRaw, file, format);
  }
}
