package io.qcow4j.vhdx;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.internal.formats.BackingOpener;
import io.qcow4j.internal.formats.FormatReads;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Opens a VHDX file in QEMU 7.2's order (vhdx_open): the file identifier, the two headers, the
 * log (replayed in memory when it holds an active sequence), the region table, the metadata, the
 * BAT, then a differencing disk's parent. Every field read from the file is bounded and checked
 * against the specification; a failure names the file, the offset and the field.
 */
final class VhdxOpener {
  /** The largest virtual disk the specification allows (64 TiB). */
  static final long MAX_VIRTUAL_SIZE = 64L << 40;
  private static final long HEADER_SECTION = VhdxLayout.MIB;
  private static final byte[] SIGNATURE = "vhdxfile".getBytes(StandardCharsets.US_ASCII);

  private final Storage file;
  private final String name;
  /** Ranges [start, end) the header section, the log and the regions take, which nothing else may overlap. */
  private final List<long[]> regions = new ArrayList<>();

  private VhdxOpener(Storage file) {
    this.file = file;
    this.name = file.name();
  }

  /** What an open found: the storage to read (the file, or the file under its replayed log), the layout, the BAT, the parent. */
  record Opened(Storage storage, VhdxLayout layout, long[] bat, DiskFile parent) {}

  static Opened open(Storage storage, Path path, BackingOpener backings) throws IOException {
    return new VhdxOpener(storage).open(path, backings);
  }

  private Opened open(Path path, BackingOpener backings) throws IOException {
    byte[] signature = FormatReads.readOrZero(file, 0, SIGNATURE.length);
    if (!java.util.Arrays.equals(signature, SIGNATURE)) {
      throw new CorruptImageException(name + ": not a VHDX image: no 'vhdxfile' signature at offset 0");
    }
    regions.add(new long[] {0, HEADER_SECTION});
    VhdxHeader header = activeHeader();
    Storage storage = file;
    boolean replayed = false;
    checkLog(header);
    List<LogEntry> sequence = VhdxLog.activeSequence(file, header);
    if (!sequence.isEmpty()) {
      storage = VhdxLog.replayed(file, sequence);
      replayed = true;
    }
    Opener reader = new Opener(storage);
    return reader.rest(header, replayed, path, backings);
  }

  /** The header with the highest sequence number among the usable ones (QEMU's vhdx_parse_header). */
  private VhdxHeader activeHeader() throws IOException {
    VhdxHeader first = VhdxHeader.decode(FormatReads.readOrZero(file, VhdxHeader.OFFSETS[0], VhdxHeader.SIZE));
    VhdxHeader second = VhdxHeader.decode(FormatReads.readOrZero(file, VhdxHeader.OFFSETS[1], VhdxHeader.SIZE));
    boolean firstUsable = first.usable();
    boolean secondUsable = second.usable();
    if (!firstUsable && !secondUsable) {
      throw new CorruptImageException(name + ": No valid VHDX header found (headers at offsets "
          + VhdxHeader.OFFSETS[0] + " and " + VhdxHeader.OFFSETS[1] + ": " + why(first) + "; " + why(second) + ")");
    }
    if (firstUsable != secondUsable) {
      return firstUsable ? first : second;
    }
    int order = Long.compareUnsigned(first.sequenceNumber(), second.sequenceNumber());
    if (order == 0 && !first.sameFields(second)) {
      throw new CorruptImageException(name + ": No valid VHDX header found (headers at offsets "
          + VhdxHeader.OFFSETS[0] + " and " + VhdxHeader.OFFSETS[1] + " differ with the same sequence_number "
          + Long.toUnsignedString(first.sequenceNumber()) + ")");
    }
    return order >= 0 ? first : second;
  }

  private static String why(VhdxHeader header) {
    if (header.signature() != VhdxHeader.SIGNATURE) {
      return "no 'head' signature";
    }
    if (!header.checksumValid()) {
      return "wrong checksum";
    }
    return "version " + header.version() + " (only 1 is defined)";
  }

  /** The log fields of the active header, as vhdx_parse_log checks them. */
  private void checkLog(VhdxHeader header) throws IOException {
    String where = name + ": header (sequence_number " + Long.toUnsignedString(header.sequenceNumber()) + "): ";
    if (header.logOffset() < HEADER_SECTION || header.logOffset() % VhdxLayout.MIB != 0) {
      throw new CorruptImageException(where + "log_offset " + header.logOffset()
          + " is not a multiple of 1 MiB past the header section");
    }
    if (header.logVersion() != 0) {
      throw new CorruptImageException(where + "log_version " + header.logVersion() + " is not 0");
    }
    boolean present = !header.logGuid().equals(VhdxGuid.ZERO) && header.logLength() != 0;
    if (present && header.logLength() % VhdxLayout.MIB != 0) {
      throw new CorruptImageException(where + "log_length " + header.logLength() + " is not a multiple of 1 MiB");
    }
    if (header.logOffset() > Long.MAX_VALUE - header.logLength()) {
      throw new CorruptImageException(where + "log_offset " + header.logOffset() + " leaves no room for the log");
    }
    if (header.logLength() > 0) {
      addRegion(header.logOffset(), header.logLength(), "log");
    }
  }

  private void addRegion(long start, long length, String what) throws CorruptImageException {
    long end = start + length;
    for (long[] region : regions) {
      if (start < region[1] && end > region[0]) {
        throw new CorruptImageException(name + ": " + what + " at offset " + start + " (" + length
            + " bytes) overlaps the region at offset " + region[0] + " (" + (region[1] - region[0]) + " bytes)");
      }
    }
    regions.add(new long[] {start, end});
  }

  /** The rest of the open, reading through {@code storage} (the file with its log replayed). */
  private final class Opener {
    private final Storage storage;

    Opener(Storage storage) {
      this.storage = storage;
    }

    Opened rest(VhdxHeader header, boolean replayed, Path path, BackingOpener backings) throws IOException {
      RegionTable table = regionTable();
      RegionTable.Entry bat = null;
      RegionTable.Entry metadata = null;
      for (RegionTable.Entry entry : table.entries()) {
        String what = "region " + entry.guid();
        if (entry.fileOffset() < HEADER_SECTION || entry.fileOffset() % VhdxLayout.MIB != 0) {
          throw new CorruptImageException(name + ": region table: " + what + ": file_offset " + entry.fileOffset()
              + " is not a multiple of 1 MiB past the header section");
        }
        if (entry.length() == 0 || entry.length() % VhdxLayout.MIB != 0) {
          throw new CorruptImageException(name + ": region table: " + what + ": length " + entry.length()
              + " is not a positive multiple of 1 MiB");
        }
        addRegion(entry.fileOffset(), entry.length(), what);
        if (entry.guid().equals(RegionTable.BAT) || entry.guid().equals(RegionTable.METADATA)) {
          boolean isBat = entry.guid().equals(RegionTable.BAT);
          if ((isBat ? bat : metadata) != null) {
            throw new CorruptImageException(name + ": region table lists the " + (isBat ? "BAT" : "metadata")
                + " region twice");
          }
          if (isBat) {
            bat = entry;
          } else {
            metadata = entry;
          }
        } else if (entry.required()) {
          throw new UnsupportedFeatureException(name + ": region table: required region " + entry.guid()
              + " is not known to qcow4j");
        }
      }
      if (bat == null || metadata == null) {
        throw new CorruptImageException(name + ": region table has no " + (bat == null ? "BAT" : "metadata")
            + " region");
      }
      VhdxLayout layout = metadata(header, bat, metadata, replayed, path);
      long[] entries = readBat(layout);
      DiskFile parent = layout.differencing() && backings != null ? openParent(layout, path, backings) : null;
      return new Opened(storage, layout, entries, parent);
    }

    /** The first region table, or its copy when the first is damaged (section 2.2.3: the two are identical). */
    private RegionTable regionTable() throws IOException {
      CorruptImageException first;
      try {
        return RegionTable.decode(FormatReads.readOrZero(storage, RegionTable.OFFSETS[0], RegionTable.SIZE), name,
            RegionTable.OFFSETS[0]);
      } catch (CorruptImageException e) {
        first = e;
      }
      try {
        return RegionTable.decode(FormatReads.readOrZero(storage, RegionTable.OFFSETS[1], RegionTable.SIZE), name,
            RegionTable.OFFSETS[1]);
      } catch (CorruptImageException second) {
        first.addSuppressed(second);
        throw first;
      }
    }

    private VhdxLayout metadata(VhdxHeader header, RegionTable.Entry bat, RegionTable.Entry region,
        boolean replayed, Path path) throws IOException {
      long regionOffset = region.fileOffset();
      MetadataTable table = MetadataTable.decode(FormatReads.readOrZero(storage, regionOffset, MetadataTable.SIZE),
          name, regionOffset);
      Map<UUID, MetadataTable.Entry> known = new HashMap<>();
      List<UUID> knownIds = List.of(MetadataTable.FILE_PARAMETERS, MetadataTable.VIRTUAL_DISK_SIZE,
          MetadataTable.PAGE_83, MetadataTable.LOGICAL_SECTOR_SIZE, MetadataTable.PHYSICAL_SECTOR_SIZE,
          MetadataTable.PARENT_LOCATOR);
      for (MetadataTable.Entry entry : table.entries()) {
        if (knownIds.contains(entry.itemId())) {
          if (known.put(entry.itemId(), entry) != null) {
            throw new CorruptImageException(name + ": metadata table at offset " + regionOffset + " lists item "
                + entry.itemId() + " twice");
          }
        } else if (entry.required()) {
          throw new UnsupportedFeatureException(name + ": metadata table at offset " + regionOffset
              + ": required item " + entry.itemId() + " is not known to qcow4j");
        }
      }
      ByteBuffer parameters = item(known, MetadataTable.FILE_PARAMETERS, "file parameters", 8, region);
      long blockSize = Integer.toUnsignedLong(parameters.getInt(0));
      int flags = parameters.getInt(4);
      boolean differencing = (flags & 2) != 0;
      long virtualSize = item(known, MetadataTable.VIRTUAL_DISK_SIZE, "virtual disk size", 8, region).getLong(0);
      byte[] page83Bytes = new byte[16];
      item(known, MetadataTable.PAGE_83, "page 83 data", 16, region).get(0, page83Bytes);
      long logical = Integer.toUnsignedLong(
          item(known, MetadataTable.LOGICAL_SECTOR_SIZE, "logical sector size", 4, region).getInt(0));
      long physical = Integer.toUnsignedLong(
          item(known, MetadataTable.PHYSICAL_SECTOR_SIZE, "physical sector size", 4, region).getInt(0));
      String where = name + ": metadata at offset " + regionOffset + ": ";
      if (blockSize < VhdxLayout.MIB || blockSize > 256 * VhdxLayout.MIB || Long.bitCount(blockSize) != 1) {
        throw new CorruptImageException(where + "file parameters: block_size " + blockSize
            + " is not a power of two from 1 MiB to 256 MiB");
      }
      if (logical != 512 && logical != 4096) {
        throw new CorruptImageException(where + "logical_sector_size " + logical + " is neither 512 nor 4096");
      }
      if (physical != 512 && physical != 4096) {
        throw new CorruptImageException(where + "physical_sector_size " + physical + " is neither 512 nor 4096");
      }
      if (virtualSize < 0 || virtualSize > MAX_VIRTUAL_SIZE || virtualSize % logical != 0) {
        throw new CorruptImageException(where + "virtual_disk_size " + Long.toUnsignedString(virtualSize)
            + " is not a multiple of the logical sector size up to 64 TiB");
      }
      ParentLocator locator = null;
      if (differencing) {
        MetadataTable.Entry entry = known.get(MetadataTable.PARENT_LOCATOR);
        if (entry == null) {
          throw new CorruptImageException(where + "file parameters: has_parent is set but there is no parent"
              + " locator");
        }
        long offset = itemOffset(entry, "parent locator", 20, region);
        locator = ParentLocator.decode(FormatReads.readOrZero(storage, regionOffset + offset, (int) entry.length()),
            name, regionOffset + offset);
        if (!locator.locatorType().equals(ParentLocator.VHDX_PARENT)) {
          throw new UnsupportedFeatureException(where + "parent locator type " + locator.locatorType()
              + " is not a VHDX parent");
        }
      }
      String parentName = locator == null ? null : parentCandidates(locator).stream().findFirst().orElse(null);
      return new VhdxLayout(header, bat.fileOffset(), bat.length(), regionOffset, region.length(), blockSize,
          (flags & 1) != 0, differencing, virtualSize, (int) logical, (int) physical,
          VhdxGuid.read(page83Bytes, 0), locator, parentName, replayed);
    }

    /** The item {@code id} (at least {@code minimum} bytes), read little-endian; a missing one is corruption. */
    private ByteBuffer item(Map<UUID, MetadataTable.Entry> known, UUID id, String what, int minimum,
        RegionTable.Entry region) throws IOException {
      MetadataTable.Entry entry = known.get(id);
      if (entry == null) {
        throw new CorruptImageException(name + ": metadata table at offset " + region.fileOffset() + " has no "
            + what + " item");
      }
      long offset = itemOffset(entry, what, minimum, region);
      return ByteBuffer.wrap(FormatReads.readOrZero(storage, region.fileOffset() + offset, minimum))
          .order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The item's offset in the region, checked: past the table, inside the region, at most 1 MiB long. */
    private long itemOffset(MetadataTable.Entry entry, String what, int minimum, RegionTable.Entry region)
        throws CorruptImageException {
      if (entry.length() < minimum || entry.length() > MetadataTable.MAX_ITEM || entry.offset() < MetadataTable.SIZE
          || entry.offset() > region.length() - entry.length()) {
        throw new CorruptImageException(name + ": metadata table at offset " + region.fileOffset() + ": " + what
            + " item of " + entry.length() + " bytes at " + entry.offset() + " is not inside the metadata region ("
            + region.length() + " bytes) past its table, or not " + minimum + " to " + MetadataTable.MAX_ITEM
            + " bytes");
      }
      return entry.offset();
    }

    /** The BAT, every present block checked to lie in the file past the header section and clear of the regions (vhdx_check_bat_entries). */
    private long[] readBat(VhdxLayout layout) throws IOException {
      long count = layout.batEntries();
      if (count > layout.batLength() / 8) {
        throw new CorruptImageException(name + ": BAT region at offset " + layout.batOffset() + " ("
            + layout.batLength() + " bytes) is too small for the " + count + " entries the virtual disk needs");
      }
      int bytes = FormatReads.tableBytes(storage, count * 8, "BAT");
      ByteBuffer table = ByteBuffer.wrap(FormatReads.readOrZero(storage, layout.batOffset(), bytes))
          .order(ByteOrder.LITTLE_ENDIAN);
      long[] bat = new long[(int) count];
      long fileSize = storage.size();
      long chunkRatio = layout.chunkRatio();
      for (int i = 0; i < count; i++) {
        long entry = table.getLong(i * 8);
        bat[i] = entry;
        int state = VhdxLayout.state(entry);
        boolean bitmapEntry = i % (chunkRatio + 1) == chunkRatio;
        long length;
        if (bitmapEntry) {
          if (!layout.differencing() || state != VhdxLayout.SB_BLOCK_PRESENT) {
            continue;
          }
          length = VhdxLayout.BITMAP_BLOCK_SIZE;
        } else {
          if (state != VhdxLayout.PAYLOAD_FULLY_PRESENT
              && !(state == VhdxLayout.PAYLOAD_PARTIALLY_PRESENT && layout.differencing())) {
            continue;
          }
          long blockIndex = i - i / (chunkRatio + 1);
          length = Math.min(layout.blockSize(), layout.virtualSize() - blockIndex * layout.blockSize());
        }
        long offset = VhdxLayout.fileOffset(entry);
        String what = "BAT entry " + i + " (at offset " + (layout.batOffset() + i * 8L) + ")";
        if (offset < HEADER_SECTION) {
          throw new CorruptImageException(name + ": " + what + " points at offset " + Long.toUnsignedString(offset)
              + ", inside the header section");
        }
        if (offset >= fileSize || length > fileSize - offset) {
          throw new CorruptImageException(name + ": VHDX " + what + " end offset " + (offset + length - 1)
              + " points after end of file (" + fileSize + "). Image has probably been truncated.");
        }
        for (long[] region : regions) {
          if (offset < region[1] && offset + length > region[0]) {
            throw new CorruptImageException(name + ": " + what + " at offset " + offset + " (" + length
                + " bytes) overlaps the region at offset " + region[0]);
          }
        }
      }
      return bat;
    }
  }

  /**
   * The names a locator gives its parent, in the order the specification has readers try them
   * (section 2.6.2.6.1): relative_path, volume_path, absolute_win32_path; Windows separators
   * become '/', a leading ".\" is dropped.
   */
  static List<String> parentCandidates(ParentLocator locator) {
    List<String> names = new ArrayList<>();
    for (String key : List.of("relative_path", "volume_path", "absolute_win32_path")) {
      String value = locator.entries().get(key);
      if (value == null || value.isEmpty()) {
        continue;
      }
      String local = value.replace('\\', '/');
      names.add(local.startsWith("./") ? local.substring(2) : local);
    }
    return names;
  }

  /**
   * The parent, the first candidate that exists opened as a VHDX one layer deeper; its
   * DataWriteGuid must be the locator's parent_linkage (or parent_linkage2), or the parent
   * changed since the child was made (section 2.6.2.6.1).
   */
  private static DiskFile openParent(VhdxLayout layout, Path path, BackingOpener backings) throws IOException {
    String name = path == null ? "image" : path.toString();
    ParentLocator locator = layout.parentLocator();
    Path directory = path == null ? null : path.toAbsolutePath().getParent();
    List<String> candidates = parentCandidates(locator);
    for (String candidate : candidates) {
      Path resolved = directory == null || Path.of(candidate).isAbsolute() ? Path.of(candidate)
          : directory.resolve(candidate);
      if (!Files.exists(resolved)) {
        continue;
      }
      DiskFile parent = backings.open(path, resolved.toString(), "vhdx");
      if (parent instanceof VhdxFile vhdx && !linked(locator, vhdx.dataWriteGuid())) {
        try (parent) {
          throw new CorruptImageException(name + ": parent '" + resolved + "' has DataWriteGuid "
              + vhdx.dataWriteGuid() + ", not the parent_linkage " + locator.entries().get("parent_linkage")
              + " of this differencing disk: the parent changed since");
        }
      }
      return parent;
    }
    throw new NoSuchFileException(name, null, "the parent of this differencing VHDX ("
        + (candidates.isEmpty() ? "no path in its parent locator" : String.join(", ", candidates))
        + ") does not exist");
  }

  private static boolean linked(ParentLocator locator, UUID dataWriteGuid) {
    for (String key : List.of("parent_linkage", "parent_linkage2")) {
      String value = locator.entries().get(key);
      if (value != null && value.replace("{", "").replace("}", "").trim().equalsIgnoreCase(dataWriteGuid.toString())) {
        return true;
      }
    }
    return false;
  }
}
