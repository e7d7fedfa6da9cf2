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
    boolean dirty,
    LuksInfo luks) {

  /** The info of a layer without a LUKS header of its own. */
  public ImageInfo(Path file, ImageFormat format, long virtualSize, long actualSize, String backingFile,
      String backingFormat, Qcow2Info qcow2, VmdkInfo vmdk, long clusterSize, boolean dirty) {
    this(file, format, virtualSize, actualSize, backingFile, backingFormat, qcow2, vmdk, clusterSize, dirty, null);
  }

  /** Whether the image's data is encrypted (qemu-img's "encrypted: yes"). */
  public boolean encrypted() {
    return luks != null || (qcow2 != null && qcow2.encryption() != null);
  }

  /** The info of a raw or qcow2 layer: the cluster size and dirty flag are {@code qcow2}'s (none for raw). */
  public ImageInfo(Path file, ImageFormat format, long virtualSize, long actualSize, String backingFile,
      String backingFormat, Qcow2Info qcow2) {
    this(file, format, virtualSize, actualSize, backingFile, backingFormat, qcow2, null,
        qcow2 == null ? 0 : qcow2.clusterSize(), qcow2 != null && qcow2.dirty());
  }

  /**
   * The qcow2-specific part of {@link ImageInfo}, with qemu-img's meaning for every field;
   * {@code dataFile} is null without an external data file and empty for one whose name the image
   * does not record.
   */
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
      List<BitmapInfo> bitmaps,
      EncryptionInfo encryption) {

    /** The qcow2 info of an image without encryption. */
    public Qcow2Info(int version, int clusterSize, String compat, boolean lazyRefcounts, int refcountBits,
        boolean corrupt, boolean dirty, boolean extendedL2, String compressionType, String dataFile,
        boolean dataFileRaw, List<SnapshotInfo> snapshots, List<BitmapInfo> bitmaps) {
      this(version, clusterSize, compat, lazyRefcounts, refcountBits, corrupt, dirty, extendedL2, compressionType,
          dataFile, dataFileRaw, snapshots, bitmaps, null);
    }
  }

  /**
   * A qcow2 image's encryption (qemu-img's "encrypt" block): {@code format} "luks" with the LUKS
   * header's {@code luks}, or "aes" (the legacy AES-CBC) with {@code luks} null.
   */
  public record EncryptionInfo(String format, LuksInfo luks) {}

  /**
   * A LUKS header as qemu-img info shows it (QEMU's QCryptoBlockInfoLUKS): the cipher, its mode,
   * the IV generator and its hash (null unless essiv), the PBKDF2 hash, where the payload starts,
   * the master key digest's iterations, the UUID and the eight key slots.
   */
  public record LuksInfo(String cipherAlg, String cipherMode, String ivgenAlg, String ivgenHashAlg, String hashAlg,
      long payloadOffset, long masterKeyIters, String uuid, List<LuksSlotInfo> slots) {}

  /** One LUKS key slot: whether it holds a key, its iterations and stripes (null when inactive), where its key material lies. */
  public record LuksSlotInfo(boolean active, Long iters, Long stripes, long keyOffset) {}

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
