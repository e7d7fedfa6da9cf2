package io.qcow4j.vmdk;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.DiskImages;
import io.qcow4j.disk.BackingNames;
import io.qcow4j.disk.BackingPolicy;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.internal.formats.BlockImageWriter;
import io.qcow4j.internal.formats.FormatReads;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.storage.Storage;
import io.qcow4j.vmdk.format.SparseHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A new monolithicSparse VMDK, laid out as QEMU 7.2's vmdk_init_extent and vmdk_co_do_create lay
 * one out (the sparse header, the descriptor at sector 1, the redundant and the primary grain
 * directories each followed by all their grain tables, grains from the next 64 KiB boundary), its
 * 64 KiB grains allocated at the end of the file in first-write order as vmdk_co_pwritev does,
 * each grain table entry kept in both copies of its table. {@link StreamVmdkTarget} writes the
 * streamOptimized subformat.
 */
public final class VmdkTarget extends BlockImageWriter {
  static final int SECTOR = 512;
  static final int GRAIN_SECTORS = 128;
  static final int ENTRIES_PER_TABLE = 512;
  static final int TABLE_SECTORS = ENTRIES_PER_TABLE * 4 / SECTOR;

  private final Layout layout;
  private final GrainEntries entries;
  private final BitSet dirtyTables = new BitSet();
  private long nextSector;

  /** Where the directories and tables of a sparse extent of {@code sectors} sectors lie (vmdk_init_extent). */
  record Layout(long sectors, long grains, long tableCount, long directorySectors, long redundantDirectory,
      long directory, long grainOffset) {
    static Layout of(long sectors) {
      long grains = (sectors + GRAIN_SECTORS - 1) / GRAIN_SECTORS;
      long tableCount = (grains + ENTRIES_PER_TABLE - 1) / ENTRIES_PER_TABLE;
      long directorySectors = (tableCount * 4 + SECTOR - 1) / SECTOR;
      long redundant = 1 + 20;
      long directory = redundant + directorySectors + TABLE_SECTORS * tableCount;
      long grainOffset = (directory + directorySectors + TABLE_SECTORS * tableCount + GRAIN_SECTORS - 1)
          / GRAIN_SECTORS * GRAIN_SECTORS;
      return new Layout(sectors, grains, tableCount, directorySectors, redundant, directory, grainOffset);
    }

    /** Where the tables that follow the directory at {@code directorySector} start, in bytes. */
    long tablesAt(long directorySector) {
      return (directorySector + directorySectors) * SECTOR;
    }
  }

  private VmdkTarget(Storage storage, Path path, long size, Layout layout) {
    super(storage, path, size, GRAIN_SECTORS * SECTOR);
    this.layout = layout;
    this.entries = new GrainEntries(layout.grains());
    this.nextSector = layout.grainOffset();
  }

  /**
   * Creates the VMDK {@code options} describe at {@code path} (replacing any file there, and the
   * extent files of a split or flat subformat next to it), ready to be written: as QEMU 7.2's
   * vmdk_co_do_create, monolithicSparse and streamOptimized in one file, monolithicFlat as a
   * descriptor and NAME-flat.vmdk, the twoGbMaxExtent subformats as a descriptor and extents of
   * 2 GiB (NAME-s001.vmdk sparse, NAME-f001.vmdk flat). A parent (the backing file, a VMDK, named
   * relative to the new image) is recorded as parentFileNameHint with its CID as parentCID.
   */
  public static DiskFile create(Path path, CreateOptions options) throws IOException {
    String subformat = options.vmdkSubformat();
    boolean stream = subformat.equals("streamOptimized");
    boolean flat = subformat.equals("monolithicFlat") || subformat.equals("twoGbMaxExtentFlat");
    boolean split = subformat.startsWith("twoGbMaxExtent");
    long size = options.size();
    Parent parent = Parent.of(path, options.backingFile());
    if (flat || split) {
      return ExtentsVmdkTarget.create(path, options, flat, split, parent);
    }
    Layout layout = Layout.of(size / SECTOR);
    checkSize(path, layout);
    FileStorage storage = FileStorage.create(path, true);
    try {
      writeSkeleton(storage, options, layout, stream);
      String extent = "RW " + layout.sectors() + " SPARSE \"" + path.getFileName() + "\"\n";
      storage.write(ByteBuffer.wrap(descriptor(options, size, extent, parent)), SECTOR);
      DiskFile target = stream ? new StreamVmdkTarget(storage, path, size, layout)
          : new VmdkTarget(storage, path, size, layout);
      target.flush();
      return target;
    } catch (IOException | RuntimeException e) {
      storage.close();
      throw e;
    }
  }

  /**
   * Refuses an extent whose grain directory would pass {@link FormatReads#MAX_TABLE_BYTES} (256 TiB
   * in 64 KiB grains), or whose grains an int cannot count; the grain tables are held only as
   * they are written ({@link GrainEntries}).
   */
  static void checkSize(Path path, Layout layout) throws IOException {
    FormatReads.tableBytes(path.toString(), layout.tableCount() * 4, "grain directory");
    if (layout.grains() > Integer.MAX_VALUE) {
      throw new ImageLimitException(path + ": " + layout.grains() + " grains are more than qcow4j writes in one extent");
    }
  }

  /** A sparse extent of a split image at {@code path}: its header and directories, no descriptor. */
  static VmdkTarget createExtent(Path path, CreateOptions options, long size) throws IOException {
    Layout layout = Layout.of(size / SECTOR);
    checkSize(path, layout);
    FileStorage storage = FileStorage.create(path, true);
    try {
      writeSkeleton(storage, options, layout, false);
      VmdkTarget target = new VmdkTarget(storage, path, size, layout);
      target.flush();
      return target;
    } catch (IOException | RuntimeException e) {
      storage.close();
      throw e;
    }
  }

  /** The parent a new image names: the backing file as given and its descriptor's CID. */
  record Parent(String hint, long cid) {
    static final Parent NONE = new Parent(null, 0xffffffffL);

    /** QEMU opens the parent (relative to the new image) without its own parents and reads its CID. */
    static Parent of(Path path, String backingFile) throws IOException {
      if (backingFile == null) {
        return NONE;
      }
      Path resolved = Path.of(BackingNames.fullName(path.toString(), backingFile));
      OpenOptions readOnly = OpenOptions.readOnlyDefaults().withBackingPolicy(BackingPolicy.IGNORE);
      try (DiskFile opened = DiskImages.open(resolved, readOnly)) {
        if (!(opened instanceof VmdkFile vmdk)) {
          throw new InvalidOptionException("Invalid backing file format: " + opened.format().id() + ". Must be vmdk");
        }
        return new Parent(backingFile, vmdk.cid());
      }
    }
  }

  /** The header and both grain directories, the file cut at the first grain (vmdk_init_extent). */
  static void writeSkeleton(Storage storage, CreateOptions options, Layout layout, boolean stream)
      throws IOException {
    ByteBuffer header = ByteBuffer.allocate(SECTOR).order(ByteOrder.LITTLE_ENDIAN);
    header.putInt(0, SparseHeader.MAGIC);
    header.putInt(4, stream ? 3 : options.vmdkZeroedGrain() ? 2 : 1);
    long flags = SparseHeader.FLAG_REDUNDANT_GD | SparseHeader.FLAG_NEWLINE_DETECT
        | (stream ? SparseHeader.FLAG_COMPRESSED | SparseHeader.FLAG_MARKERS : 0)
        | (options.vmdkZeroedGrain() ? SparseHeader.FLAG_ZEROED_GRAIN : 0);
    header.putInt(8, (int) flags);
    header.putLong(12, layout.sectors());
    header.putLong(20, GRAIN_SECTORS);
    header.putLong(28, 1);
    header.putLong(36, 20);
    header.putInt(44, ENTRIES_PER_TABLE);
    header.putLong(48, layout.redundantDirectory());
    header.putLong(56, layout.directory());
    header.putLong(64, layout.grainOffset());
    header.put(73, new byte[] {0xa, 0x20, 0xd, 0xa});
    header.putShort(77, (short) (stream ? SparseHeader.COMPRESSION_DEFLATE : 0));
    storage.write(header, 0);
    storage.truncate(layout.grainOffset() * SECTOR);
    for (long directory : new long[] {layout.redundantDirectory(), layout.directory()}) {
      ByteBuffer entries = ByteBuffer.allocate((int) (layout.directorySectors() * SECTOR))
          .order(ByteOrder.LITTLE_ENDIAN);
      long table = directory + layout.directorySectors();
      for (int i = 0; i < layout.tableCount(); i++, table += TABLE_SECTORS) {
        entries.putInt(i * 4, (int) table);
      }
      storage.write(entries, directory * SECTOR);
    }
  }

  /**
   * The descriptor text vmdk_co_do_create writes for a disk of {@code size} bytes whose extent
   * lines are {@code extents}.
   */
  static byte[] descriptor(CreateOptions options, long size, String extents, Parent parent) {
    int heads = options.vmdkAdapterType().equals("ide") ? 16 : 255;
    String text = "# Disk DescriptorFile\n"
        + "version=1\n"
        + "CID=" + Integer.toHexString(ThreadLocalRandom.current().nextInt()) + "\n"
        + "parentCID=" + Long.toHexString(parent.cid()) + "\n"
        + "createType=\"" + options.vmdkSubformat() + "\"\n"
        + (parent.hint() == null ? "" : "parentFileNameHint=\"" + parent.hint() + "\"\n")
        + "\n"
        + "# Extent description\n"
        + extents
        + "\n"
        + "# The Disk Data Base\n"
        + "#DDB\n"
        + "\n"
        + "ddb.virtualHWVersion = \"" + options.vmdkHwVersion() + "\"\n"
        + "ddb.geometry.cylinders = \"" + size / (63L * heads * SECTOR) + "\"\n"
        + "ddb.geometry.heads = \"" + heads + "\"\n"
        + "ddb.geometry.sectors = \"63\"\n"
        + "ddb.adapterType = \"" + options.vmdkAdapterType() + "\"\n"
        + "ddb.toolsVersion = \"" + options.vmdkToolsVersion() + "\"\n";
    return text.getBytes(StandardCharsets.UTF_8);
  }

  @Override
  protected long hostOffsetOf(int blockIndex) {
    int sector = entries.get(blockIndex);
    return sector == 0 ? -1 : Integer.toUnsignedLong(sector) * SECTOR;
  }

  @Override
  protected long allocateBlock(int blockIndex) throws IOException {
    long sector = nextSector;
    nextSector += GRAIN_SECTORS;
    storage.truncate(Math.max(storage.size(), nextSector * SECTOR));
    entries.set(blockIndex, (int) sector);
    dirtyTables.set(blockIndex / ENTRIES_PER_TABLE);
    return sector * SECTOR;
  }

  @Override
  protected void writeMetadata() throws IOException {
    writeTables(storage, layout, entries, dirtyTables);
  }

  /** Writes the grain tables {@code dirty} names, in both copies, from {@code entries}; clears {@code dirty}. */
  static void writeTables(Storage storage, Layout layout, GrainEntries entries, BitSet dirty) throws IOException {
    for (int table = dirty.nextSetBit(0); table >= 0; table = dirty.nextSetBit(table + 1)) {
      ByteBuffer bytes = ByteBuffer.allocate(ENTRIES_PER_TABLE * 4).order(ByteOrder.LITTLE_ENDIAN);
      int first = table * ENTRIES_PER_TABLE;
      for (int i = 0; i < ENTRIES_PER_TABLE && first + i < entries.grains(); i++) {
        bytes.putInt(i * 4, entries.get(first + i));
      }
      long offset = (long) table * TABLE_SECTORS * SECTOR;
      storage.write(bytes.duplicate(), layout.tablesAt(layout.redundantDirectory()) + offset);
      storage.write(bytes, layout.tablesAt(layout.directory()) + offset);
    }
    dirty.clear();
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.VMDK;
  }
}
