package io.qcow4j.ops;

import io.qcow4j.disk.Compat;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.Preallocation;
import java.io.IOException;
import java.util.OptionalLong;

/**
 * qemu-img measure: how large a new image file would be, with QEMU's own arithmetic (block/qcow2.c
 * qcow2_measure and qcow2_calc_prealloc_size, block/raw-format.c raw_measure), so that the figures
 * equal qemu-img's to the byte. The required size counts the metadata of a fully allocated image
 * plus the data clusters the source really needs; it overestimates, as QEMU's does.
 */
public final class ImageMeasure {
  private static final int SECTOR = 512;
  private static final long MAX_L1_BYTES = 32L << 20;
  private static final int BITMAP_DIRECTORY_ENTRY_BYTES = 24;

  private ImageMeasure() {}

  /**
   * The sizes measured: {@code required} for the content, {@code fullyAllocated} when every
   * cluster is allocated, and {@code bitmaps} (present only when source and target both keep
   * persistent bitmaps) for copying the source's bitmaps.
   */
  public record Measurement(long required, long fullyAllocated, OptionalLong bitmaps) {}

  /** A raw image of {@code size} bytes (rounded up to a sector), or of {@code source}'s size. */
  public static Measurement raw(long size, DiskFile source) throws IOException {
    long required = source != null ? source.size() : roundUp(size, SECTOR);
    // unallocated sectors count towards the file size in raw images
    return new Measurement(required, required, OptionalLong.empty());
  }

  /**
   * A qcow2 image made with {@code options} (cluster size, compat, refcount bits, extended L2,
   * preallocation, backing file) holding {@code source}'s content, or, without a source, an
   * empty image of {@code options.size()} bytes.
   */
  public static Measurement qcow2(CreateOptions options, DiskFile source) throws IOException {
    int clusterSize = options.clusterSize();
    boolean extendedL2 = options.extendedL2();
    int l2EntryBytes = extendedL2 ? 16 : 8;
    long clusters = clusterCount(options.size(), clusterSize);
    long l2Tables = ceilDiv(clusters, clusterSize / l2EntryBytes);
    if (l2Tables * 8 > MAX_L1_BYTES) {
      throw new ImageLimitException("The image size is too large (try using a larger cluster size)");
    }
    long virtualSize = clusters * clusterSize;
    long required = 0;
    if (source != null) {
      long sourceSize = source.size();
      virtualSize = clusterCount(sourceSize, clusterSize) * clusterSize;
      // Without knowing what a new backing file shares with the source, every cluster may be needed.
      required = options.backingFile() != null ? virtualSize : allocatedBytes(source, sourceSize, clusterSize);
    }
    if (options.preallocation() == Preallocation.FULL || options.preallocation() == Preallocation.FALLOC) {
      required = virtualSize;
    }
    long fullyAllocated = preallocatedSize(virtualSize, clusterSize, Integer.numberOfTrailingZeros(options.refcountBits()),
        extendedL2);
    OptionalLong bitmaps = OptionalLong.empty();
    boolean v3 = options.compat() == Compat.V3;
    if (v3 && source != null && keepsPersistentBitmaps(source)) {
      bitmaps = OptionalLong.of(bitmapsSize(source, clusterSize));
    }
    if (options.encryption() != null) {
      // the LUKS header and its key slots, in whole clusters (qcow2_measure's luks_payload_size)
      int keyLength = io.qcow4j.luks.LuksVolume.parameters(options.encryption()).cipherSpec().keyLength();
      fullyAllocated += ceilDiv(io.qcow4j.crypto.LuksHeader.payloadOffsetFor(keyLength), clusterSize) * clusterSize;
    }
    return new Measurement(fullyAllocated - virtualSize + required, fullyAllocated, bitmaps);
  }

  /**
   * The data clusters of {@code source} that hold data, counted as qcow2_measure counts them: a
   * data extent is widened to whole clusters of the new image, zero extents count nothing.
   */
  private static long allocatedBytes(DiskFile source, long sourceSize, int clusterSize) throws IOException {
    long required = 0;
    long length;
    for (long offset = 0; offset < sourceSize; offset += length) {
      Extent extent = source.blockStatus(offset, sourceSize - offset);
      length = extent.length();
      if (length <= 0) {
        throw new IOException(source.files() + ": block status at offset " + offset + " returned an empty range");
      }
      if (!extent.zero() && extent.data()) {
        length = roundUp(offset + length, clusterSize) - offset;
        required += offset % clusterSize + length;
      }
    }
    return required;
  }

  /** QEMU's qcow2_calc_prealloc_size: header, L2 and L1 tables, refcount structures and the data. */
  static long preallocatedSize(long virtualSize, int clusterSize, int refcountOrder, boolean extendedL2) {
    int l2EntryBytes = extendedL2 ? 16 : 8;
    long alignedSize = roundUp(virtualSize, clusterSize);
    long metadataBytes = clusterSize;
    long l2Entries = roundUp(alignedSize / clusterSize, clusterSize / l2EntryBytes);
    metadataBytes += l2Entries * l2EntryBytes;
    long l1Entries = roundUp(l2Entries * l2EntryBytes / clusterSize, clusterSize / 8);
    metadataBytes += l1Entries * 8;
    metadataBytes += refcountMetadataSize((metadataBytes + alignedSize) / clusterSize, clusterSize, refcountOrder);
    return metadataBytes + alignedSize;
  }

  /**
   * QEMU's qcow2_refcount_metadata_size (without its generous increase): the refcount table and
   * blocks needed to count {@code clusters} clusters and themselves.
   */
  static long refcountMetadataSize(long clusters, int clusterSize, int refcountOrder) {
    long blocksPerTableCluster = clusterSize / 8;
    long refcountsPerBlock = (long) clusterSize * 8 / (1L << refcountOrder);
    long table = 0;
    long blocks = 0;
    long total = 0;
    long last;
    do {
      last = total;
      blocks = ceilDiv(clusters + table + blocks, refcountsPerBlock);
      table = ceilDiv(blocks, blocksPerTableCluster);
      total = clusters + blocks + table;
    } while (total != last);
    return (blocks + table) * clusterSize;
  }

  /** qcow2_supports_persistent_dirty_bitmap: a qcow2 v3 source. */
  private static boolean keepsPersistentBitmaps(DiskFile source) throws IOException {
    ImageInfo.Qcow2Info qcow2 = source.info().qcow2();
    return qcow2 != null && qcow2.version() >= 3;
  }

  /**
   * QEMU's qcow2_get_persistent_dirty_bitmap_size: every bitmap wholly allocated in clusters of the
   * new image, its bitmap table, and the bitmap directory.
   */
  private static long bitmapsSize(DiskFile source, int clusterSize) throws IOException {
    long size = source.size();
    long total = 0;
    long directoryBytes = 0;
    for (ImageInfo.BitmapInfo bitmap : source.info().qcow2().bitmaps()) {
      long bitmapBytes = ceilDiv(ceilDiv(size, bitmap.granularity()), 8);
      long bitmapClusters = ceilDiv(bitmapBytes, clusterSize);
      total += bitmapClusters * clusterSize;
      total += roundUp(bitmapClusters * 8, clusterSize);
      int nameBytes = bitmap.name().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
      directoryBytes += roundUp(BITMAP_DIRECTORY_ENTRY_BYTES + nameBytes, 8);
    }
    return total + roundUp(directoryBytes, clusterSize);
  }

  /** Clusters covering {@code size} bytes, without overflowing near 2^63. */
  private static long clusterCount(long size, int clusterSize) {
    return size == 0 ? 0 : (size - 1) / clusterSize + 1;
  }

  private static long roundUp(long value, long alignment) {
    return ceilDiv(value, alignment) * alignment;
  }

  private static long ceilDiv(long value, long divisor) {
    return value == 0 ? 0 : (value - 1) / divisor + 1;
  }
}
