package io.qcow4j.disk;

import java.nio.file.Path;
import java.util.List;

/**
 * What qemu-img info reports about one layer of an image. {@code qcow2} is null for other formats;
 * {@code backingFile} and {@code backingFormat} are null when there is no backing file (the format
 * also when the header does not record it).
 */
public record ImageInfo(
    Path file,
    ImageFormat format,
    long virtualSize,
    long actualSize,
    String backingFile,
    String backingFormat,
    Qcow2Info qcow2) {

  /** The qcow2-specific part of {@link ImageInfo}, with qemu-img's meaning for every field. */
  public record Qcow2Info(
      int version,
      int clusterSize,
      String compat,
      boolean lazyRefcounts,
      int refcountBits,
      boolean corrupt,
      boolean dirty,
      boolean extendedL2,
      String compressionType,
      String dataFile,
      boolean dataFileRaw,
      List<SnapshotInfo> snapshots,
      List<BitmapInfo> bitmaps) {}

  /** One persistent dirty bitmap: its name, granularity in bytes, and flags ("in-use", "auto"). */
  public record BitmapInfo(String name, long granularity, List<String> flags) {}
}
