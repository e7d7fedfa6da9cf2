package io.qcow4j.disk;

import java.nio.file.Path;
import java.util.List;

/**
 * What qemu-img info reports about one layer of an image. {@code qcow2} is null for other formats,
 * {@code vmdk} likewise;
 * {@code backingFile} and {@code backingFormat} are null when there is no backing file (the format
 * also when the header does not record it). {@code clusterSize} is qemu-img's "cluster_size" (0
 * when the format reports none), {@code dirty} its "dirty-flag".
 */
public record ImageInfo(
    Path file,
    ImageFormat format,
    long virtualSize,
    long actualSize,
    String backingFile,
    String backingFormat,
    Qcow2Info qcow2,
    VmdkInfo vmdk,
    long clusterSize,
    boolean dirty) {

  /** The info of a raw or qcow2 layer: the cluster size and dirty flag are {@code qcow2}'s (none for raw). */
  public ImageInfo(Path file, ImageFormat format, long virtualSize, long actualSize, String backingFile,
      String backingFormat, Qcow2Info qcow2) {
    this(file, format, virtualSize, actualSize, backingFile, backingFormat, qcow2, null,
        qcow2 == null ? 0 : qcow2.clusterSize(), qcow2 != null && qcow2.dirty());
  }

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

  /**
   * The VMDK-specific part of {@link ImageInfo} (QEMU's ImageInfoSpecificVmdk): the descriptor's CID
   * and parentCID, the create type, the extents, and the grain size qemu-img prints as cluster_size
   * (0 when the extents differ or are flat).
   */
  public record VmdkInfo(long cid, long parentCid, String createType, long clusterSize, List<VmdkExtentInfo> extents) {}

  /**
   * One extent of a VMDK (QEMU's VmdkExtentInfo): its file, its descriptor type ("" for a monolithic
   * sparse file), its size in bytes, its grain size (null for a flat extent) and whether its grains
   * are compressed.
   */
  public record VmdkExtentInfo(String filename, String format, long virtualSize, Long clusterSize,
      boolean compressed) {}
}
