package io.qcow4j.hostile;

import static io.qcow4j.testing.ImageBytes.*;

import io.qcow4j.testing.ImageBytes;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Where each metadata structure of a qcow2 file lies, read straight from the bytes (an independent
 * parser, not the engine's codecs, so that a bug there cannot hide one here). Standard L2 entries
 * and 16-bit refcounts only, which is what the overlap tests build.
 */
record ImageLayout(
    int clusterBits,
    long size,
    long fileSize,
    long incompatibleFeatures,
    long autoclearFeatures,
    int refcountOrder,
    long l1Offset,
    int l1Size,
    long[] l1,
    long refcountTableOffset,
    int refcountTableClusters,
    long[] refcountTable,
    Map<Metadata, Region> regions) {

  /** The header extension that locates the bitmap directory. */
  static final int EXTENSION_BITMAPS = 0x23852875;
  /** The corrupt bit among the incompatible features. */
  static final long INCOMPAT_CORRUPT = 1L << 1;
  /** Offset bits of L1 entries, L2 table pointers and refcount-table entries (bits 9..55). */
  static final long TABLE_OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;

  /** The metadata structures an overlap can hit, with the words the engine's messages use for them. */
  enum Metadata {
    HEADER("header"),
    ACTIVE_L1("active L1 table"),
    ACTIVE_L2("active L2 table"),
    REFCOUNT_TABLE("refcount table"),
    REFCOUNT_BLOCK("refcount block"),
    SNAPSHOT_TABLE("snapshot table"),
    INACTIVE_L1("inactive L1 table"),
    BITMAP_DIRECTORY("bitmap directory"),
    BITMAP_TABLE("bitmap table");

    final String words;

    Metadata(String words) {
      this.words = words;
    }
  }

  /** A byte range of the file. */
  record Region(long offset, long length) {
    long end() {
      return offset + length;
    }
  }

  int clusterSize() {
    return 1 << clusterBits;
  }

  /** Guest bytes one L2 table maps. */
  long l2Coverage() {
    return (long) clusterSize() / 8 * clusterSize();
  }

  boolean corrupt() {
    return (incompatibleFeatures & INCOMPAT_CORRUPT) != 0;
  }

  Region region(Metadata structure) {
    Region region = regions.get(structure);
    if (region == null) {
      throw new IllegalStateException("the image has no " + structure.words);
    }
    return region;
  }

  /** The file offset of the L2 entry of guest cluster {@code guestCluster} (its L2 table must exist). */
  long l2EntryOffset(long guestCluster) {
    long table = l1[(int) (guestCluster / (clusterSize() / 8))] & TABLE_OFFSET_MASK;
    if (table == 0) {
      throw new IllegalStateException("guest cluster " + guestCluster + " has no L2 table");
    }
    return table + 8 * (guestCluster % (clusterSize() / 8));
  }

  static ImageLayout read(Path image) throws IOException {
    try (ImageBytes bytes = ImageBytes.open(image)) {
      int clusterBits = bytes.u32(CLUSTER_BITS);
      long clusterSize = 1L << clusterBits;
      if (bytes.u32(VERSION) != 3) {
        throw new IllegalStateException(image + ": the overlap tests build version 3 images only");
      }
      int refcountOrder = bytes.u32(REFCOUNT_ORDER);
      long l1Offset = bytes.u64(L1_TABLE_OFFSET);
      int l1Size = bytes.u32(L1_SIZE);
      long[] l1 = new long[l1Size];
      for (int i = 0; i < l1Size; i++) {
        l1[i] = bytes.u64(l1Offset + 8L * i);
      }
      long refcountTableOffset = bytes.u64(REFCOUNT_TABLE_OFFSET);
      int refcountTableClusters = bytes.u32(REFCOUNT_TABLE_CLUSTERS);
      long[] refcountTable = new long[(int) (refcountTableClusters * clusterSize / 8)];
      for (int i = 0; i < refcountTable.length; i++) {
        refcountTable[i] = bytes.u64(refcountTableOffset + 8L * i);
      }

      Map<Metadata, Region> regions = new EnumMap<>(Metadata.class);
      regions.put(Metadata.HEADER, new Region(0, clusterSize));
      regions.put(Metadata.ACTIVE_L1, new Region(l1Offset, 8L * l1Size));
      if (l1Size > 0 && (l1[0] & TABLE_OFFSET_MASK) != 0) {
        regions.put(Metadata.ACTIVE_L2, new Region(l1[0] & TABLE_OFFSET_MASK, clusterSize));
      }
      regions.put(Metadata.REFCOUNT_TABLE, new Region(refcountTableOffset, refcountTableClusters * clusterSize));
      if ((refcountTable[0] & TABLE_OFFSET_MASK) != 0) {
        regions.put(Metadata.REFCOUNT_BLOCK, new Region(refcountTable[0] & TABLE_OFFSET_MASK, clusterSize));
      }
      snapshots(bytes, regions);
      bitmaps(bytes, clusterSize, regions);
      return new ImageLayout(clusterBits, bytes.u64(SIZE), bytes.fileSize(), bytes.u64(INCOMPATIBLE_FEATURES),
          bytes.u64(AUTOCLEAR_FEATURES), refcountOrder, l1Offset, l1Size, l1, refcountTableOffset,
          refcountTableClusters, refcountTable, Map.copyOf(regions));
    }
  }

  /** The snapshot table (all its entries) and the first snapshot's L1 table. */
  private static void snapshots(ImageBytes bytes, Map<Metadata, Region> regions) throws IOException {
    int count = bytes.u32(NB_SNAPSHOTS);
    if (count == 0) {
      return;
    }
    long table = bytes.u64(SNAPSHOTS_OFFSET);
    long cursor = table;
    for (int i = 0; i < count; i++) {
      if (i == 0) {
        regions.put(Metadata.INACTIVE_L1, new Region(bytes.u64(cursor), 8L * bytes.u32(cursor + 8)));
      }
      int idSize = bytes.u32(cursor + 12) >>> 16;
      int nameSize = bytes.u32(cursor + 12) & 0xffff;
      long extraSize = Integer.toUnsignedLong(bytes.u32(cursor + 36));
      cursor += align8(40 + extraSize + idSize + nameSize);
    }
    regions.put(Metadata.SNAPSHOT_TABLE, new Region(table, cursor - table));
  }

  /** The bitmap directory and the first bitmap's table, when the bitmaps extension is there. */
  private static void bitmaps(ImageBytes bytes, long clusterSize, Map<Metadata, Region> regions) throws IOException {
    Optional<Long> extension = extension(bytes, clusterSize, EXTENSION_BITMAPS);
    if (extension.isEmpty()) {
      return;
    }
    long directorySize = bytes.u64(extension.get() + 16);
    long directory = bytes.u64(extension.get() + 24);
    regions.put(Metadata.BITMAP_DIRECTORY, new Region(directory, directorySize));
    long tableOffset = bytes.u64(directory);
    long tableEntries = Integer.toUnsignedLong(bytes.u32(directory + 8));
    if (tableOffset != 0) {
      regions.put(Metadata.BITMAP_TABLE, new Region(tableOffset, 8 * tableEntries));
    }
  }

  /** Offsets of the flags words of the bitmap directory's entries (the in-use flag lives there). */
  List<Long> bitmapFlagOffsets(Path image) throws IOException {
    List<Long> offsets = new ArrayList<>();
    Region directory = regions.get(Metadata.BITMAP_DIRECTORY);
    if (directory == null) {
      return offsets;
    }
    try (ImageBytes bytes = ImageBytes.open(image)) {
      long cursor = directory.offset();
      while (cursor + 24 <= directory.end()) {
        offsets.add(cursor + 12);
        int nameSize = bytes.u32(cursor + 16) & 0xffff;
        long extraSize = Integer.toUnsignedLong(bytes.u32(cursor + 20));
        cursor += align8(24 + extraSize + nameSize);
      }
    }
    return offsets;
  }

  private static Optional<Long> extension(ImageBytes bytes, long clusterSize, int type) throws IOException {
    long offset = bytes.u32(HEADER_LENGTH);
    while (offset + 8 <= clusterSize) {
      int found = bytes.u32(offset);
      if (found == type) {
        return Optional.of(offset);
      }
      if (found == EXTENSION_END) {
        return Optional.empty();
      }
      offset += 8 + align8(Integer.toUnsignedLong(bytes.u32(offset + 4)));
    }
    return Optional.empty();
  }

  private static long align8(long value) {
    return (value + 7) & ~7L;
  }
}
