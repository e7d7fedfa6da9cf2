package io.qcow4j.qcow2;

import io.qcow4j.disk.BitmapException;
import io.qcow4j.disk.DirtyBitmap;
import io.qcow4j.disk.DirtyRange;
import io.qcow4j.qcow2.PersistentBitmaps.Bitmap;
import io.qcow4j.qcow2.format.BitmapDirectoryCodec;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The operations of QEMU's block-dirty-bitmap-* commands (as qemu-img bitmap runs them) over one
 * image's bitmaps, with QEMU 7.2's checks in its order and its messages.
 */
final class BitmapOperations {
  private static final String INCONSISTENT_HINT = "Try block-dirty-bitmap-remove to delete this bitmap from disk";

  private BitmapOperations() {}

  static List<DirtyBitmap> list(PersistentBitmaps bitmaps) {
    List<DirtyBitmap> list = new ArrayList<>();
    for (Bitmap bitmap : bitmaps.bitmaps()) {
      list.add(new DirtyBitmap(bitmap.name, 1L << bitmap.granularityBits, bitmap.enabled, !bitmap.inconsistent()));
    }
    return list;
  }

  /** QEMU's default granularity: the cluster size within 4 KiB..64 KiB. */
  static long defaultGranularity(int clusterSize) {
    return Math.min(65536, Math.max(4096, clusterSize));
  }

  /** Checks a new bitmap as qmp_block_dirty_bitmap_add and qcow2_co_can_store_new_dirty_bitmap do; returns its granularity bits. */
  static int checkAdd(PersistentBitmaps bitmaps, String name, long granularity, int version, long diskSize,
      int clusterSize, String nodeName) throws BitmapException {
    if (name == null || name.isEmpty()) {
      throw new BitmapException("Bitmap name cannot be empty");
    }
    // QMP carries the granularity as a uint32: 4G and up wrap, as in qemu-img
    long given = granularity & 0xffff_ffffL;
    if (granularity != 0 && (given < 512 || Long.bitCount(given) != 1)) {
      throw new BitmapException("Granularity must be power of 2 and at least 512");
    }
    long chosen = granularity == 0 ? defaultGranularity(clusterSize) : given;
    if (bitmaps.find(name) != null) {
      throw new BitmapException("Bitmap already exists: " + name);
    }
    String prefix = "Can't make bitmap '" + name + "' persistent in '" + nodeName + "': ";
    if (version < 3) {
      throw new BitmapException(prefix + "Cannot store dirty bitmaps in qcow2 v2 files");
    }
    int bits = Long.numberOfTrailingZeros(chosen);
    if (bits > BitmapDirectoryCodec.MAX_GRANULARITY_BITS) {
      throw new BitmapException(prefix + "Granularity exceeds maximum (" + (1L << BitmapDirectoryCodec.MAX_GRANULARITY_BITS)
          + " bytes)");
    }
    long bitmapBytes = (BitmapDirectoryCodec.bitCount(diskSize, bits) + 7) / 8;
    if (bitmapBytes > BitmapDirectoryCodec.MAX_BITMAP_DATA_BYTES || bitmapBytes > 0x800_0000L * clusterSize) {
      throw new BitmapException(prefix + "Too much space will be occupied by the bitmap. Use larger granularity");
    }
    int nameBytes = name.getBytes(StandardCharsets.UTF_8).length;
    if (nameBytes > BitmapDirectoryCodec.MAX_NAME_BYTES) {
      throw new BitmapException(prefix + "Name length exceeds maximum (" + BitmapDirectoryCodec.MAX_NAME_BYTES
          + " characters)");
    }
    long directoryBytes = BitmapDirectoryCodec.entryLength(nameBytes, 0);
    for (Bitmap bitmap : bitmaps.bitmaps()) {
      directoryBytes += BitmapDirectoryCodec.entryLength(bitmap.name.getBytes(StandardCharsets.UTF_8).length, 0);
    }
    if (bitmaps.bitmaps().size() + 1 > BitmapDirectoryCodec.MAX_BITMAPS) {
      throw new BitmapException(prefix + "Maximum number of persistent bitmaps is already reached");
    }
    if (directoryBytes > BitmapDirectoryCodec.MAX_DIRECTORY_BYTES) {
      throw new BitmapException(prefix + "Not enough space in the bitmap directory");
    }
    return bits;
  }

  /** The bitmap named {@code name}: QEMU's block_dirty_bitmap_lookup. */
  static Bitmap lookup(PersistentBitmaps bitmaps, String name) throws BitmapException {
    Bitmap bitmap = name == null ? null : bitmaps.find(name);
    if (bitmap == null) {
      throw new BitmapException("Dirty bitmap '" + name + "' not found");
    }
    return bitmap;
  }

  /** Refuses an inconsistent bitmap as bdrv_dirty_bitmap_check does. */
  static DirtyBits consistent(Bitmap bitmap) throws BitmapException {
    DirtyBits bits = bitmap.bits;
    if (bits == null) {
      throw new BitmapException("Bitmap '" + bitmap.name + "' is inconsistent and cannot be used", INCONSISTENT_HINT);
    }
    return bits;
  }

  /** Merges {@code source} into {@code target} as bdrv_merge_dirty_bitmap does. */
  static void merge(Bitmap target, Bitmap source, long targetSize, long sourceSize)
      throws BitmapException, io.qcow4j.disk.ImageLimitException {
    DirtyBits into = consistent(target);
    DirtyBits from = consistent(source);
    if (targetSize != sourceSize) {
      throw new BitmapException("Bitmaps are of different sizes (destination size is " + targetSize
          + ", source size is " + sourceSize + ") and can't be merged");
    }
    into.merge(from);
  }

  /** The dirty ranges of {@code bits} within {@code [offset, offset + length)}, whole units, cut to the range. */
  static List<DirtyRange> ranges(DirtyBits bits, long offset, long length, long diskSize) {
    List<DirtyRange> ranges = new ArrayList<>();
    long end = Math.min(diskSize, offset + length);
    if (offset >= end) {
      return ranges;
    }
    int granularityBits = bits.granularityBits();
    long bit = bits.nextSet(offset >>> granularityBits);
    long lastBit = (end - 1) >>> granularityBits;
    while (bit >= 0 && bit <= lastBit) {
      long clear = bits.nextClear(bit);
      long start = Math.max(offset, bit << granularityBits);
      long stop = Math.min(end, clear << granularityBits);
      ranges.add(new DirtyRange(start, stop - start));
      bit = clear >= bits.bitCount() ? -1 : bits.nextSet(clear);
    }
    return ranges;
  }
}
