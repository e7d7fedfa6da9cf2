package io.qcow4j.qed;

import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.internal.formats.BackingOpener;
import io.qcow4j.internal.formats.FormatReads;
import io.qcow4j.internal.formats.Mapping;
import io.qcow4j.internal.formats.ReadOnlyImage;
import io.qcow4j.internal.storage.HostFiles;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.List;

/**
 * A QED image read as QEMU 7.2's qed driver reads it: guest clusters through the L1 and L2 tables,
 * an L2 entry of 1 a zero cluster, unallocated clusters read from the backing file (or as zeros).
 * A dirty image (need-check) is read as it is, as QEMU does read-only; qemu-img info reports it clean.
 */
public final class QedFile extends ReadOnlyImage {
  /** An L2 entry that marks a zero cluster. */
  private static final long ZERO_CLUSTER = 1;
  /** The most L2 entries one lookup reads (32 KiB). */
  private static final int MAX_ENTRIES_PER_LOOKUP = 4096;
  /** The longest backing file name, as for qcow2. */
  private static final int MAX_BACKING_NAME = 1023;

  private final QedHeader header;
  private final long[] l1Table;
  /** The file's size rounded down to a cluster: no cluster may start at or past it. */
  private final long clusterEnd;
  private final String backingName;
  private final String backingFormat;

  private QedFile(Storage storage, Path path, DiskFile backing, QedHeader header, long[] l1Table, long clusterEnd,
      String backingName, String backingFormat) {
    super(storage, path, header.imageSize(), backing);
    this.header = header;
    this.l1Table = l1Table;
    this.clusterEnd = clusterEnd;
    this.backingName = backingName;
    this.backingFormat = backingFormat;
  }

  /**
   * Opens the QED image held by {@code storage} (named {@code path}), checked as bdrv_qed_do_open
   * checks it and within our limits, with its backing file through {@code backings} (none when
   * null); the storage is the caller's to close if this fails.
   */
  public static QedFile open(Storage storage, Path path, BackingOpener backings) throws IOException {
    String name = storage.name();
    QedHeader header = QedHeader.decode(FormatReads.readOrZero(storage, 0, QedHeader.SIZE));
    if (header.magic() != QedHeader.MAGIC) {
      throw new CorruptImageException(name + ": Image not in QED format");
    }
    if ((header.features() & ~QedHeader.KNOWN_FEATURES) != 0) {
      throw new UnsupportedFeatureException(name + ": Unsupported QED features: "
          + Long.toHexString(header.features() & ~QedHeader.KNOWN_FEATURES));
    }
    if (!header.clusterSizeValid()) {
      throw new CorruptImageException(name + ": QED cluster size is invalid");
    }
    long clusterEnd = storage.size() / header.clusterSize() * header.clusterSize();
    if (!header.tableSizeValid()) {
      throw new CorruptImageException(name + ": QED table size is invalid");
    }
    if (!header.imageSizeValid()) {
      throw new CorruptImageException(name + ": QED image size is invalid");
    }
    if (!tableOffsetValid(header, clusterEnd, header.l1TableOffset())) {
      throw new CorruptImageException(name + ": QED table offset is invalid");
    }
    if (header.headerSize() > 0xffffffffL / header.clusterSize()) {
      throw new CorruptImageException(name + ": QED header size is too large");
    }
    String backingName = null;
    String backingFormat = null;
    if ((header.features() & QedHeader.FEATURE_BACKING_FILE) != 0) {
      if (header.backingNameOffset() + header.backingNameSize() > header.headerBytes()) {
        throw new CorruptImageException(name + ": QED backing filename offset is invalid");
      }
      if (header.backingNameSize() > MAX_BACKING_NAME) {
        throw new ImageLimitException(name + ": backing file name of " + header.backingNameSize()
            + " bytes is longer than the limit of " + MAX_BACKING_NAME);
      }
      backingName = new String(FormatReads.readInside(storage, header.backingNameOffset(),
          (int) header.backingNameSize(), "Failed to read backing filename: backing file name"),
          StandardCharsets.UTF_8);
      int nul = backingName.indexOf('\0');
      if (nul >= 0) {
        backingName = backingName.substring(0, nul);
      }
      if ((header.features() & QedHeader.FEATURE_BACKING_FORMAT_NO_PROBE) != 0) {
        backingFormat = "raw";
      }
    }
    int l1Bytes = FormatReads.tableBytes(storage, header.tableEntries() * 8, "QED L1 table");
    ByteBuffer l1 = ByteBuffer.wrap(FormatReads.readInside(storage, header.l1TableOffset(), l1Bytes, "QED L1 table"))
        .order(ByteOrder.LITTLE_ENDIAN);
    long[] l1Table = new long[(int) header.tableEntries()];
    for (int i = 0; i < l1Table.length; i++) {
      l1Table[i] = l1.getLong(i * 8);
    }
    DiskFile backing = backingName != null && !backingName.isEmpty() && backings != null
        ? backings.open(path, backingName, backingFormat) : null;
    return new QedFile(storage, path, backing, header, l1Table, clusterEnd, backingName, backingFormat);
  }

  /** qed_check_cluster_offset: cluster-aligned, past the header, before the file's last whole cluster ends. */
  private static boolean clusterOffsetValid(QedHeader header, long clusterEnd, long offset) {
    return (offset & (header.clusterSize() - 1)) == 0 && offset >= header.headerBytes() && offset < clusterEnd;
  }

  /** qed_check_table_offset: the table's first and last clusters valid (a one-cluster table never is, as in QEMU). */
  private static boolean tableOffsetValid(QedHeader header, long clusterEnd, long offset) {
    long end = offset + (header.tableSize() - 1) * header.clusterSize();
    if (Long.compareUnsigned(end, offset) <= 0) {
      return false;
    }
    return clusterOffsetValid(header, clusterEnd, offset) && clusterOffsetValid(header, clusterEnd, end);
  }

  @Override
  protected Mapping map(long guestOffset, long maxLength) throws IOException {
    long clusterSize = header.clusterSize();
    long l2Span = header.l2Span();
    int l1Index = (int) (guestOffset / l2Span);
    long inTable = guestOffset % l2Span;
    long toTableEnd = Math.min(maxLength, l2Span - inTable);
    long l2Offset = l1Table[l1Index];
    if (l2Offset == 0) {
      return Mapping.unallocated(toTableEnd);
    }
    if (!tableOffsetValid(header, clusterEnd, l2Offset)) {
      throw new CorruptImageException(name() + ": L1 entry " + l1Index + " points to an invalid L2 table offset "
          + l2Offset);
    }
    int l2Index = (int) (inTable / clusterSize);
    long inCluster = inTable % clusterSize;
    int wanted = (int) Math.min(MAX_ENTRIES_PER_LOOKUP, (inCluster + toTableEnd + clusterSize - 1) / clusterSize);
    ByteBuffer entries = ByteBuffer.wrap(FormatReads.readOrZero(storage, l2Offset + l2Index * 8L, wanted * 8))
        .order(ByteOrder.LITTLE_ENDIAN);
    long first = entries.getLong(0);
    int count = 1;
    long last = first;
    while (count < wanted) {
      long next = entries.getLong(count * 8);
      boolean same = first == 0 ? next == 0 : first == ZERO_CLUSTER ? next == ZERO_CLUSTER
          : next == last + clusterSize;
      if (!same) {
        break;
      }
      last = next;
      count++;
    }
    long length = Math.min(toTableEnd, count * clusterSize - inCluster);
    if (first == 0) {
      return Mapping.unallocated(length);
    }
    if (first == ZERO_CLUSTER) {
      return Mapping.zero(length);
    }
    if (!clusterOffsetValid(header, clusterEnd, first) || !clusterOffsetValid(header, clusterEnd, last)) {
      throw new CorruptImageException(name() + ": L2 table at " + l2Offset + ", entry " + l2Index
          + ": invalid cluster offset " + (clusterOffsetValid(header, clusterEnd, first) ? last : first));
    }
    return Mapping.data(length, first + inCluster);
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.QED;
  }

  @Override
  public ImageInfo info() throws IOException {
    return new ImageInfo(path, ImageFormat.QED, size(), path == null ? -1 : HostFiles.allocatedBytes(path),
        backingName, backingFormat, null, null, header.clusterSize(), false);
  }

  /**
   * QEMU's qed_check: every L1 entry must name a valid L2 table, every L2 entry a valid cluster,
   * no cluster referenced twice (each a corruption), and clusters of the file past the header that
   * nothing references are leaks; allocated and fragmented clusters are counted as QEMU counts them
   * (fragmented: not right after the previous data cluster of its L2 table). A repair (an image
   * opened by {@link #repair}) is refused here.
   */
  @Override
  public CheckResult check(CheckResult.Repair repair) throws IOException {
    if (repair != CheckResult.Repair.NONE) {
      throw new UnsupportedFeatureException(name() + ": image format 'qed' is supported read-only by qcow4j;"
          + " it repairs an image only as qemu-img check -r does");
    }
    return scan(false);
  }

  /**
   * qemu-img check -r on the QED image held by {@code storage} (opened read-write, named
   * {@code path}), as QEMU does it: the open clears unknown autoclear feature bits, qed_check with
   * fixes clears each invalid L1 and L2 entry (a corruption fixed; leaks and clusters referenced
   * twice stay) and writes each changed table whole, the image is checked again when anything was
   * fixed, and the need-check bit is cleared at the end (after a flush) as bdrv_qed_close clears
   * it. Backing files are opened through {@code backings} as for reading. The storage is closed
   * when this returns, and is the caller's to close if the image does not open.
   */
  public static CheckResult repair(Storage storage, Path path, BackingOpener backings) throws IOException {
    if (storage.isReadOnly()) {
      throw new IllegalArgumentException("a repair needs the image opened read-write");
    }
    QedFile image = open(storage, path, backings);
    try (image) {
      if (image.header.autoclearFeatures() != 0) {
        image.rewriteHeader(image.header.features());
      }
      CheckResult fixing = image.scan(true);
      CheckResult result = fixing;
      if (fixing.corruptionsFixed() > 0) {
        CheckResult again = image.scan(false);
        result = new CheckResult(again.filename(), again.format(), again.checkErrors(), again.corruptions(),
            again.leaks(), fixing.corruptionsFixed(), 0, 0, again.totalClusters(), again.allocatedClusters(),
            again.fragmentedClusters(), 0, List.of());
      }
      storage.force(false);
      if ((image.header.features() & QedHeader.FEATURE_NEED_CHECK) != 0) {
        image.rewriteHeader(image.header.features() & ~QedHeader.FEATURE_NEED_CHECK);
        storage.force(false);
      }
      return result;
    }
  }

  /** Writes the header's 64 bytes back with {@code features} and no autoclear bits, as qed_write_header_sync. */
  private void rewriteHeader(long features) throws IOException {
    ByteBuffer bytes = ByteBuffer.wrap(FormatReads.readOrZero(storage, 0, QedHeader.SIZE))
        .order(ByteOrder.LITTLE_ENDIAN);
    bytes.putLong(16, features).putLong(32, 0);
    storage.write(bytes, 0);
  }

  /** One pass of qed_check, clearing (with {@code fix}) and writing back the invalid entries it meets. */
  private CheckResult scan(boolean fix) throws IOException {
    long clusterSize = header.clusterSize();
    long clusters = clusterEnd / clusterSize;
    if (clusters > Integer.MAX_VALUE) {
      throw new ImageLimitException(name() + ": " + clusters + " clusters are more than qcow4j checks");
    }
    BitSet used = new BitSet((int) clusters);
    long[] counts = new long[4]; // corruptions, allocated, fragmented, corruptions fixed
    markUsed(used, header.l1TableOffset(), header.tableSize(), counts);
    int tableBytes = (int) (header.tableEntries() * 8);
    boolean l1Changed = false;
    for (int l1Index = 0; l1Index < l1Table.length; l1Index++) {
      long l2Offset = l1Table[l1Index];
      if (l2Offset == 0) {
        continue;
      }
      if (!tableOffsetValid(header, clusterEnd, l2Offset)) {
        if (fix) {
          l1Table[l1Index] = 0;
          l1Changed = true;
          counts[3]++;
        } else {
          counts[0]++;
        }
        continue;
      }
      if (!markUsed(used, l2Offset, header.tableSize(), counts)) {
        continue;
      }
      ByteBuffer table = ByteBuffer.wrap(FormatReads.readOrZero(storage, l2Offset, tableBytes))
          .order(ByteOrder.LITTLE_ENDIAN);
      long last = 0;
      boolean l2Changed = false;
      for (int i = 0; i < tableBytes; i += 8) {
        long offset = table.getLong(i);
        if (offset == 0 || offset == ZERO_CLUSTER) {
          continue;
        }
        counts[1]++;
        if (last != 0 && last + clusterSize != offset) {
          counts[2]++;
        }
        last = offset;
        if (!clusterOffsetValid(header, clusterEnd, offset)) {
          if (fix) {
            table.putLong(i, 0);
            l2Changed = true;
            counts[3]++;
          } else {
            counts[0]++;
          }
          continue;
        }
        markUsed(used, offset, 1, counts);
      }
      if (l2Changed) {
        storage.write(table.rewind(), l2Offset);
      }
    }
    if (l1Changed) {
      ByteBuffer table = ByteBuffer.allocate(tableBytes).order(ByteOrder.LITTLE_ENDIAN);
      for (long entry : l1Table) {
        table.putLong(entry);
      }
      storage.write(table.flip(), header.l1TableOffset());
    }
    long leaks = 0;
    for (long cluster = header.headerSize(); cluster < clusters; cluster++) {
      if (!used.get((int) cluster)) {
        leaks++;
      }
    }
    long total = (header.imageSize() + clusterSize - 1) / clusterSize;
    return new CheckResult(name(), "qed", 0, counts[0], leaks, counts[3], 0, 0, total, counts[1], counts[2], 0,
        List.of());
  }

  /** qed_set_used_clusters: marks {@code n} clusters from {@code offset}; false (and corruptions) for any marked before. */
  private boolean markUsed(BitSet used, long offset, long n, long[] counts) {
    long cluster = (offset + header.clusterSize() - 1) / header.clusterSize();
    long corruptions = 0;
    for (long i = 0; i < n; i++, cluster++) {
      if (used.get((int) cluster)) {
        corruptions++;
      }
      used.set((int) cluster);
    }
    counts[0] += corruptions;
    return corruptions == 0;
  }
}
