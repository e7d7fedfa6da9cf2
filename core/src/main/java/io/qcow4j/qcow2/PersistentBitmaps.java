package io.qcow4j.qcow2;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.qcow2.format.BitmapDirectoryCodec;
import io.qcow4j.qcow2.format.BitmapDirectoryCodec.Entry;
import io.qcow4j.qcow2.format.Features;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.HeaderExtension;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * An image's persistent dirty bitmaps as QEMU 7.2 keeps them (block/qcow2-bitmap.c): read from the
 * bitmap directory, tracked in memory while the image is open read-write, stored at close.
 *
 * <p>On a read-write open every consistent bitmap is loaded and marked in use on disk before
 * anything else is written (the autoclear bit cleared, the directory rewritten in place, the bit
 * set again, each made durable), so a crash leaves them in use, which QEMU reads as inconsistent.
 * Writes mark the enabled ones ({@link #mark}, lock-free). Storing writes each consistent bitmap to
 * new clusters, a new table and a new directory, makes the refcounts durable, points the header at
 * the new directory, and only then frees the old clusters (invariant 10). In-use bitmaps found at
 * open (and those whose extra data is not marked compatible) are never trusted: they stay on disk
 * as they are until removed.
 */
final class PersistentBitmaps {
  /** One bitmap: what the directory says of it and, unless it is inconsistent, its bits. */
  static final class Bitmap {
    final String name;
    final int granularityBits;
    volatile boolean enabled;
    /** Null when the bitmap is inconsistent: in use at open, or extra data not marked compatible. */
    volatile DirtyBits bits;
    /** The entry as on disk, null for a bitmap added since. */
    Entry onDisk;
    /** The data clusters of the table on disk (0 for none), to free once a new copy is stored. */
    long[] dataClusters;

    Bitmap(String name, int granularityBits, boolean enabled, DirtyBits bits, Entry onDisk, long[] dataClusters) {
      this.name = name;
      this.granularityBits = granularityBits;
      this.enabled = enabled;
      this.bits = bits;
      this.onDisk = onDisk;
      this.dataClusters = dataClusters;
    }

    boolean inconsistent() {
      return bits == null;
    }
  }

  /** The most bits one bitmap may hold in memory: 128 MiB (16 TiB at 16 KiB granularity, 64 TiB at 64 KiB). */
  static final long MAX_BITS = 1L << 32;
  private final QcowFile image;
  private final Storage storage;
  private final String name;
  private final int clusterSize;
  private volatile List<Bitmap> bitmaps;
  /** The bitmaps writes mark: enabled and consistent. */
  private volatile Bitmap[] tracked = new Bitmap[0];
  /** Whether the in-memory state differs from the directory on disk (then close stores it). */
  private volatile boolean changed;

  private PersistentBitmaps(QcowFile image, List<Bitmap> bitmaps) {
    this.image = image;
    this.storage = image.storage();
    this.name = storage.name();
    this.clusterSize = image.clusterSize();
    this.bitmaps = bitmaps;
    retrack();
  }

  /** No bitmaps (a version 2 image, or one whose bitmaps a writer without bitmap support invalidated). */
  static PersistentBitmaps none(QcowFile image) {
    return new PersistentBitmaps(image, new ArrayList<>());
  }

  /** Whether the header carries bitmaps that are valid (the extension, and the autoclear bit set). */
  static boolean present(Header header) {
    return header.bitmapsValid() && header.extension(HeaderExtension.BITMAPS).isPresent();
  }

  /** Reads the directory and the bits of every consistent bitmap. */
  static PersistentBitmaps load(QcowFile image) throws IOException {
    Header header = image.header();
    Storage storage = image.storage();
    String name = storage.name();
    int clusterSize = image.clusterSize();
    List<Bitmap> loaded = new ArrayList<>();
    if (!present(header)) {
      return new PersistentBitmaps(image, loaded);
    }
    for (Entry entry : readDirectory(image)) {
      long[] table = checkedTable(image, entry);
      if (table == null) {
        loaded.add(new Bitmap(entry.name(), entry.granularityBits(), entry.auto(), null, entry, null));
        continue;
      }
      DirtyBits bits = newBits(name, entry.name(), header.size(), entry.granularityBits());
      long[] dataClusters = new long[table.length];
      for (int index = 0; index < table.length; index++) {
        dataClusters[index] = table[index] & BitmapDirectoryCodec.TABLE_OFFSET_MASK;
      }
      long bitsPerCluster = 8L * clusterSize;
      long needed = BitmapDirectoryCodec.tableEntries(header.size(), entry.granularityBits(), clusterSize);
      ByteBuffer cluster = ByteBuffer.allocate(clusterSize);
      for (int index = 0; index < needed; index++) {
        long dataOffset = dataClusters[index];
        if (dataOffset == 0) {
          if ((table[index] & BitmapDirectoryCodec.TABLE_ALL_ONES) != 0) {
            bits.setBits(index * bitsPerCluster, Math.min(bits.bitCount(), (index + 1) * bitsPerCluster));
          }
          continue;
        }
        storage.readFully(cluster.clear(), dataOffset);
        bits.deserialize(index * bitsPerCluster, cluster.flip());
      }
      loaded.add(new Bitmap(entry.name(), entry.granularityBits(), entry.auto(), bits, entry, dataClusters));
    }
    return new PersistentBitmaps(image, loaded);
  }

  /**
   * Refuses, as QEMU's open does (qcow2_load_dirty_bitmaps), an image whose bitmap directory or
   * the table of a consistent bitmap is corrupt: a read-only open checks what a read-write open
   * loads, without reading the bits.
   */
  static void validate(QcowFile image) throws IOException {
    if (present(image.header())) {
      for (Entry entry : readDirectory(image)) {
        checkedTable(image, entry);
      }
    }
  }

  /**
   * A bitmap's table, each entry checked (reserved bits, alignment, a data cluster inside the
   * file); null, with only the table's place checked, for a bitmap whose bits are not to be
   * trusted (in use, or extra data not marked compatible), as QEMU never reads those.
   */
  private static long[] checkedTable(QcowFile image, Entry entry) throws IOException {
    Storage storage = image.storage();
    String name = storage.name();
    int clusterSize = image.clusterSize();
    BitmapDirectoryCodec.checkTable(name, entry, clusterSize, storage.size());
    BitmapDirectoryCodec.checkCoversDisk(name, entry, clusterSize, image.header().size());
    if (entry.inUse() || !entry.usable()) {
      return null;
    }
    long[] table = readTable(storage, entry);
    for (int index = 0; index < table.length; index++) {
      long dataOffset = BitmapDirectoryCodec.dataOffset(name, entry.name(), index, table[index], clusterSize);
      if (dataOffset > storage.size() - clusterSize) {
        throw new CorruptImageException(name + ": bitmap '" + entry.name() + "' table entry " + index
            + " points at offset " + dataOffset + ", past the end of the file");
      }
    }
    return table;
  }

  /** An empty bitmap over a disk of {@code diskSize} bytes, refused past {@link #MAX_BITS}. */
  static DirtyBits newBits(String file, String bitmapName, long diskSize, int granularityBits)
      throws io.qcow4j.disk.ImageLimitException {
    long bits = BitmapDirectoryCodec.bitCount(diskSize, granularityBits);
    if (bits > MAX_BITS) {
      throw new io.qcow4j.disk.ImageLimitException(file + ": bitmap '" + bitmapName + "' needs " + bits
          + " bits in memory, more than the limit of " + MAX_BITS);
    }
    return new DirtyBits(diskSize, granularityBits);
  }

  /** The directory entries as the header's extension points at them. */
  static List<Entry> readDirectory(QcowFile image) throws IOException {
    Header header = image.header();
    Storage storage = image.storage();
    Optional<HeaderExtension> extension = header.extension(HeaderExtension.BITMAPS);
    if (extension.isEmpty() || !header.bitmapsValid()) {
      return List.of();
    }
    BitmapDirectoryCodec.Extension bitmaps = BitmapDirectoryCodec.Extension.decodeChecked(storage.name(),
        extension.get().data(), image.clusterSize(), storage.size());
    ByteBuffer directory = ByteBuffer.allocate((int) bitmaps.directorySize());
    storage.readFully(directory, bitmaps.directoryOffset());
    return BitmapDirectoryCodec.decodeDirectory(storage.name(), directory.flip(), bitmaps.directoryOffset(),
        bitmaps.count());
  }

  private static long[] readTable(Storage storage, Entry entry) throws IOException {
    int entries = entry.tableSize();
    ByteBuffer bytes = ByteBuffer.allocate(entries * 8);
    storage.readFully(bytes, entry.tableOffset());
    bytes.flip();
    long[] table = new long[entries];
    for (int index = 0; index < entries; index++) {
      table[index] = bytes.getLong();
    }
    return table;
  }

  /** The bitmaps in directory order (those added since last). */
  List<Bitmap> bitmaps() {
    return bitmaps;
  }

  /** Whether any bitmap is held (in memory or on disk). */
  boolean isEmpty() {
    return bitmaps.isEmpty();
  }

  /** The bitmap named {@code bitmapName}, or null. */
  Bitmap find(String bitmapName) {
    for (Bitmap bitmap : bitmaps) {
      if (bitmap.name.equals(bitmapName)) {
        return bitmap;
      }
    }
    return null;
  }

  /** Marks {@code [offset, offset + length)} dirty in every enabled consistent bitmap; no lock, no I/O. */
  void mark(long offset, long length) throws io.qcow4j.disk.ImageLimitException {
    for (Bitmap bitmap : tracked) {
      DirtyBits bits = bitmap.bits;
      if (bits != null) {
        bits.mark(offset, length);
      }
    }
  }

  /** Whether writes mark any bitmap. */
  boolean tracking() {
    return tracked.length > 0;
  }

  /** Recomputes the bitmaps writes mark, after a change of the list or of a bitmap's state. */
  void retrack() {
    List<Bitmap> live = new ArrayList<>();
    for (Bitmap bitmap : bitmaps) {
      if (bitmap.enabled && !bitmap.inconsistent()) {
        live.add(bitmap);
      }
    }
    tracked = live.toArray(new Bitmap[0]);
  }

  /** Adds a bitmap (in memory; stored at close). */
  void add(Bitmap bitmap) {
    List<Bitmap> next = new ArrayList<>(bitmaps);
    next.add(bitmap);
    bitmaps = next;
    changed = true;
    retrack();
  }

  /** Drops a bitmap from the list; its clusters are freed when the directory is next stored. */
  void remove(Bitmap bitmap) {
    List<Bitmap> next = new ArrayList<>(bitmaps);
    next.remove(bitmap);
    bitmaps = next;
    removed.add(bitmap);
    changed = true;
    retrack();
  }

  private final List<Bitmap> removed = new ArrayList<>();

  /** Records a change of a bitmap's bits or state that close must store. */
  void changed() {
    changed = true;
    retrack();
  }

  /** Resizes every bitmap to a disk of {@code newSize} bytes (caller made sure none is inconsistent). */
  void resize(long newSize) throws io.qcow4j.disk.ImageLimitException {
    for (Bitmap bitmap : bitmaps) {
      if (bitmap.bits != null) {
        newBits(name, bitmap.name, newSize, bitmap.granularityBits);
      }
    }
    for (Bitmap bitmap : bitmaps) {
      if (bitmap.bits != null) {
        bitmap.bits = bitmap.bits.resized(newSize);
      }
    }
    changed = true;
    retrack();
  }

  /**
   * Marks every consistent bitmap in use on disk, before the first guest write of a read-write
   * session: QEMU's update_ext_header_and_dir_in_place (autoclear bit off, directory rewritten in
   * place, bit on, each durable). Runs at open, before any other change.
   */
  void markInUse() throws IOException {
    List<Entry> entries = new ArrayList<>();
    boolean needed = false;
    for (Bitmap bitmap : bitmaps) {
      Entry entry = bitmap.onDisk;
      if (!bitmap.inconsistent() && !entry.inUse()) {
        entry = entry.withFlags(entry.flags() | BitmapDirectoryCodec.FLAG_IN_USE);
        needed = true;
      }
      entries.add(entry);
    }
    if (!needed) {
      return;
    }
    Header header = image.header();
    BitmapDirectoryCodec.Extension extension = BitmapDirectoryCodec.Extension.decode(name,
        header.extension(HeaderExtension.BITMAPS).orElseThrow().data());
    byte[] directory = BitmapDirectoryCodec.encode(entries);
    if (directory.length != extension.directorySize()) {
      throw new CorruptImageException(name + ": the bitmap directory at offset " + extension.directoryOffset()
          + " does not re-encode to its own size");
    }
    image.writeHeader(header.withAutoclearFeatures(header.autoclearFeatures() & ~Features.AUTOCLEAR_BITMAPS));
    storage.force(false);
    storage.write(ByteBuffer.wrap(directory), extension.directoryOffset());
    storage.force(false);
    image.writeHeader(image.header().withAutoclearFeatures(image.header().autoclearFeatures() | Features.AUTOCLEAR_BITMAPS));
    storage.force(false);
    int index = 0;
    for (Bitmap bitmap : bitmaps) {
      bitmap.onDisk = entries.get(index++);
    }
  }

  /** Whether close has something to store: a consistent bitmap (to clear its in-use flag) or a change. */
  boolean needsStore() {
    if (changed) {
      return true;
    }
    for (Bitmap bitmap : bitmaps) {
      if (!bitmap.inconsistent()) {
        return true;
      }
    }
    return false;
  }

  /**
   * Stores every consistent bitmap (new data clusters, table and directory; the header pointed at
   * the directory once the refcounts are durable; the old clusters freed after), as QEMU's
   * qcow2_store_persistent_dirty_bitmaps does. {@code keepInUse} keeps the in-use flag on the
   * stored entries, for a store while the image stays open read-write. The caller runs this as an
   * exclusive operation, with every guest write before it flushed.
   */
  void store(Refcounts refcounts, boolean keepInUse) throws IOException {
    Header header = image.header();
    List<Entry> entries = new ArrayList<>();
    List<long[]> oldRanges = new ArrayList<>();
    List<long[]> newTables = new ArrayList<>();
    for (Bitmap bitmap : bitmaps) {
      if (bitmap.inconsistent()) {
        entries.add(bitmap.onDisk);
        continue;
      }
      long[] dataClusters = writeData(refcounts, bitmap.bits, header.size());
      long tableBytes = dataClusters.length * 8L;
      long tableOffset = refcounts.allocate(clustersFor(tableBytes));
      ByteBuffer table = ByteBuffer.allocate((int) tableBytes);
      for (long cluster : dataClusters) {
        table.putLong(cluster);
      }
      storage.write(table.flip(), tableOffset);
      int flags = (bitmap.enabled ? BitmapDirectoryCodec.FLAG_AUTO : 0)
          | (keepInUse ? BitmapDirectoryCodec.FLAG_IN_USE : 0);
      byte[] extra = new byte[0];
      if (bitmap.onDisk != null) {
        flags |= bitmap.onDisk.flags() & BitmapDirectoryCodec.FLAG_EXTRA_DATA_COMPATIBLE;
        extra = bitmap.onDisk.extraData();
        addOldRanges(oldRanges, bitmap);
      }
      entries.add(new Entry(bitmap.name, bitmap.granularityBits, flags, tableOffset, dataClusters.length, extra));
      newTables.add(dataClusters);
    }
    for (Bitmap bitmap : removed) {
      if (bitmap.onDisk != null) {
        addOldRanges(oldRanges, bitmap);
      }
    }
    Optional<HeaderExtension> oldExtension = header.extension(HeaderExtension.BITMAPS);
    if (oldExtension.isPresent() && header.bitmapsValid()) {
      BitmapDirectoryCodec.Extension old = BitmapDirectoryCodec.Extension.decode(name, oldExtension.get().data());
      oldRanges.add(new long[] {old.directoryOffset(), old.directorySize()});
    }
    BitmapDirectoryCodec.Extension extension = null;
    if (!entries.isEmpty()) {
      byte[] directory = BitmapDirectoryCodec.encode(entries);
      long directoryOffset = refcounts.allocate(clustersFor(directory.length));
      storage.write(ByteBuffer.wrap(directory), directoryOffset);
      extension = new BitmapDirectoryCodec.Extension(entries.size(), directory.length, directoryOffset);
    }
    // The new clusters and their refcounts are durable before the header names them.
    image.writer().flush();
    storage.force(false);
    List<HeaderExtension> extensions = new ArrayList<>();
    boolean placed = false;
    for (HeaderExtension existing : header.extensions()) {
      if (existing.type() != HeaderExtension.BITMAPS) {
        extensions.add(existing);
      } else if (extension != null && !placed) {
        extensions.add(new HeaderExtension(HeaderExtension.BITMAPS, extension.encode()));
        placed = true;
      }
    }
    if (extension != null && !placed) {
      extensions.add(new HeaderExtension(HeaderExtension.BITMAPS, extension.encode()));
    }
    long autoclear = extension == null ? header.autoclearFeatures() & ~Features.AUTOCLEAR_BITMAPS
        : header.autoclearFeatures() | Features.AUTOCLEAR_BITMAPS;
    image.rewriteHeaderArea(withExtensions(header, extensions, autoclear));
    for (long[] range : oldRanges) {
      refcounts.freeLater(range[0], range[1]);
    }
    int stored = 0;
    int index = 0;
    for (Bitmap bitmap : bitmaps) {
      bitmap.onDisk = entries.get(index++);
      if (!bitmap.inconsistent()) {
        bitmap.dataClusters = newTables.get(stored++);
      }
    }
    removed.clear();
    changed = false;
  }

  private void addOldRanges(List<long[]> oldRanges, Bitmap bitmap) {
    if (bitmap.dataClusters != null) {
      for (long cluster : bitmap.dataClusters) {
        if (cluster != 0) {
          oldRanges.add(new long[] {cluster, clusterSize});
        }
      }
    } else {
      // An inconsistent bitmap being removed: its table is read now, its valid entries freed.
      try {
        long[] table = readTable(storage, bitmap.onDisk);
        for (long tableEntry : table) {
          long offset = tableEntry & BitmapDirectoryCodec.TABLE_OFFSET_MASK;
          if (offset != 0 && BitmapDirectoryCodec.validTableEntry(tableEntry, clusterSize)) {
            oldRanges.add(new long[] {offset, clusterSize});
          }
        }
      } catch (IOException e) {
        // Its clusters leak, as QEMU leaks what it cannot read; check -r reclaims them.
      }
    }
    oldRanges.add(new long[] {bitmap.onDisk.tableOffset(), bitmap.onDisk.tableSize() * 8L});
  }

  /** Writes each cluster of bitmap data that holds a set bit to a new cluster; returns the table. */
  private long[] writeData(Refcounts refcounts, DirtyBits bits, long diskSize) throws IOException {
    int granularityBits = bits.granularityBits();
    long entries = BitmapDirectoryCodec.tableEntries(diskSize, granularityBits, clusterSize);
    long[] table = new long[(int) entries];
    long bitsPerCluster = 8L * clusterSize;
    ByteBuffer cluster = ByteBuffer.allocate(clusterSize);
    long bit = bits.nextSet(0);
    while (bit >= 0) {
      int index = (int) (bit / bitsPerCluster);
      bits.serialize(index * bitsPerCluster, cluster.clear());
      long offset = refcounts.allocate(1);
      storage.write(cluster.flip(), offset);
      table[index] = offset;
      long next = (index + 1) * bitsPerCluster;
      bit = next >= bits.bitCount() ? -1 : bits.nextSet(next);
    }
    return table;
  }

  private int clustersFor(long bytes) {
    return (int) ((bytes + clusterSize - 1) / clusterSize);
  }

  /** Rewrites the header area without the bitmaps extension (its bitmaps were invalidated). */
  static void dropExtension(QcowFile image) throws IOException {
    Header header = image.header();
    List<HeaderExtension> kept = new ArrayList<>();
    for (HeaderExtension extension : header.extensions()) {
      if (extension.type() != HeaderExtension.BITMAPS) {
        kept.add(extension);
      }
    }
    image.rewriteHeaderArea(withExtensions(header, kept, header.autoclearFeatures()));
  }

  private static Header withExtensions(Header header, List<HeaderExtension> extensions, long autoclear) {
    return new Header(header.version(), header.backingFileOffset(), header.backingFileSize(), header.clusterBits(),
        header.size(), header.cryptMethod(), header.l1Size(), header.l1TableOffset(), header.refcountTableOffset(),
        header.refcountTableClusters(), header.snapshotCount(), header.snapshotsOffset(),
        header.incompatibleFeatures(), header.compatibleFeatures(), autoclear, header.refcountOrder(),
        header.headerLength(), header.compressionType(), extensions, header.backingFile());
  }
}
