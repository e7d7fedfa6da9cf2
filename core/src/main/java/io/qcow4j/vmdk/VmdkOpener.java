package io.qcow4j.vmdk;

import io.qcow4j.disk.BackingNames;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.internal.storage.LockRequest;
import io.qcow4j.storage.Storage;
import io.qcow4j.vmdk.format.CowdHeader;
import io.qcow4j.vmdk.format.Descriptor;
import io.qcow4j.vmdk.format.ExtentLine;
import io.qcow4j.vmdk.format.Marker;
import io.qcow4j.vmdk.format.SparseHeader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Opening a VMDK as QEMU 7.2's vmdk_open does: a file starting with a sparse magic is a monolithic
 * sparse image (its descriptor embedded at sector 1), any other file a descriptor whose extents are
 * opened beside it. Every header field is vetted against {@link VmdkLimits} and the file's size
 * before anything is allocated from it; on failure every file opened so far is closed.
 */
final class VmdkOpener {
  /** vmdk_add_extent's bound on the grain directory's entries (l1_size). */
  private static final long QEMU_MAX_L1_SIZE = 32L * 1024 * 1024;

  /** Where QEMU reads the fields of a sparse file's embedded descriptor. */
  private static final long EMBEDDED_DESCRIPTOR_OFFSET = 0x200;

  private final Path path;
  private final String name;
  private final OpenOptions options;
  /** The image file when the caller supplied it as a Storage (then no other file may be opened); else null. */
  private final Storage supplied;
  private final List<Storage> opened = new ArrayList<>();
  private final List<VmdkExtent> extents = new ArrayList<>();
  private long nextSector;

  /** The pieces of an opened image, handed to {@link VmdkFile}. */
  record Parts(List<VmdkExtent> extents, List<Storage> storages, String createType, long cid, long parentCid,
      String parentHint) {}

  private VmdkOpener(Path path, Storage supplied, OpenOptions options) {
    this.path = path;
    this.name = path.toString();
    this.supplied = supplied;
    this.options = options;
  }

  /**
   * Opens the image's files and reads its metadata; nothing stays open when it fails. With
   * {@code supplied}, that storage is the image file and no extent file beside it can be opened.
   */
  static Parts open(Path path, Storage supplied, OpenOptions options) throws IOException {
    VmdkOpener opener = new VmdkOpener(path, supplied, options);
    try {
      return opener.open();
    } catch (IOException | RuntimeException | Error e) {
      for (Storage storage : opener.opened) {
        try {
          storage.close();
        } catch (IOException closing) {
          e.addSuppressed(closing);
        }
      }
      throw e;
    }
  }

  private Parts open() throws IOException {
    Storage top;
    if (supplied != null) {
      top = supplied;
      opened.add(top);
    } else {
      top = openFile(path);
    }
    long size = top.size();
    if (size < 4) {
      throw new CorruptImageException(name + ": File is too small, not a valid image");
    }
    ByteBuffer first = read(top, 0, (int) Math.min(size, SparseHeader.SIZE));
    String createType;
    Descriptor fields;
    if (SparseHeader.hasMagic(first) || CowdHeader.hasMagic(first)) {
      createType = openSparse(top, path, null, size);
      fields = descriptorAt(top, EMBEDDED_DESCRIPTOR_OFFSET, Descriptor.FIELD_BYTES);
    } else {
      Descriptor descriptor = readDescriptorFile(top, size);
      createType = openDescriptor(descriptor, name);
      fields = descriptor.prefix(Descriptor.FIELD_BYTES - 1);
    }
    if (extents.isEmpty()) {
      throw new CorruptImageException(name + ": VMDK descriptor lists no extent that can be opened");
    }
    long cid = fields.cid(false);
    long parentCid = fields.cid(true);
    String parentHint = fields.parentFileNameHint();
    return new Parts(List.copyOf(extents), List.copyOf(opened), createType, cid, parentCid, parentHint);
  }

  /**
   * The descriptor file's text, as much of it as QEMU reads; a file that holds a create type but is
   * larger than that is refused rather than read in part (QEMU would drop the rest silently).
   */
  private Descriptor readDescriptorFile(Storage storage, long size) throws IOException {
    Descriptor descriptor = descriptorAt(storage, 0, (int) Math.min(size, VmdkLimits.MAX_DESCRIPTOR_BYTES));
    descriptor.createType();
    if (size > VmdkLimits.MAX_DESCRIPTOR_BYTES) {
      throw new ImageLimitException(name + ": VMDK descriptor file is " + size + " bytes, more than the limit of "
          + VmdkLimits.MAX_DESCRIPTOR_BYTES);
    }
    return descriptor;
  }

  private Descriptor descriptorAt(Storage storage, long offset, int length) throws IOException {
    ByteBuffer bytes = ByteBuffer.allocate(length);
    storage.readOrZero(bytes, offset);
    return Descriptor.of(bytes.array(), length, name);
  }

  /** Opens the extents of a descriptor file and returns its create type. */
  private String openDescriptor(Descriptor descriptor, String descriptorName) throws IOException {
    String createType = descriptor.createType();
    if (!Descriptor.DESCRIPTOR_FILE_TYPES.contains(createType)) {
      throw new UnsupportedFeatureException(name + ": Unsupported image type '" + createType + "'");
    }
    for (ExtentLine line : descriptor.extents(VmdkLimits.MAX_EXTENTS)) {
      if (line.type().equals(ExtentLine.SE_SPARSE)) {
        throw new UnsupportedFeatureException(name + ": seSparse extents ('" + line.fileName()
            + "') are not supported by qcow4j");
      }
      Path extentPath = extentPath(descriptorName, line.fileName());
      Storage storage = openFile(extentPath);
      if (line.flat()) {
        long offsetSectors = line.offsetSectors();
        if (line.sectors() > VmdkLimits.MAX_SECTORS - nextSector || offsetSectors > VmdkLimits.MAX_SECTORS - line.sectors()) {
          throw new ImageLimitException(name + ": extent '" + line.fileName() + "' (" + line.sectors()
              + " sectors at sector " + offsetSectors + ") makes the disk larger than qcow4j addresses");
        }
        extents.add(new FlatExtent(nextSector, line.sectors(), storage, extentPath, line.type(), offsetSectors));
        nextSector += line.sectors();
      } else {
        String type = openSparse(storage, extentPath, line.type(), storage.size());
        if (type.equals("streamOptimized")) {
          createType = type;
        }
      }
    }
    return createType;
  }

  /**
   * Where an extent file lies: beside the descriptor, as QEMU joins the descriptor's directory and
   * the name; a name that is absolute or climbs out of that directory is refused.
   */
  private Path extentPath(String descriptorName, String fileName) throws IOException {
    if (supplied != null) {
      throw new UnsupportedFeatureException(name + ": extent file '" + fileName + "' cannot be opened: the image"
          + " was opened over a storage, which has no directory");
    }
    Path relative;
    try {
      relative = Path.of(fileName);
    } catch (java.nio.file.InvalidPathException e) {
      throw new CorruptImageException(name + ": extent file name '" + fileName.replace("\0", "\\0")
          + "' is not a valid path: " + e.getReason());
    }
    Path normalized = relative.normalize();
    if (relative.isAbsolute() || fileName.startsWith("/") || (normalized.getNameCount() > 0
        && normalized.getName(0).toString().equals(".."))) {
      throw new UnsupportedFeatureException(name + ": extent file '" + fileName
          + "' lies outside the descriptor's directory; qcow4j opens only extents beside their descriptor");
    }
    return Path.of(BackingNames.fullName(descriptorName, fileName));
  }

  /** Opens a sparse extent (KDMV or COWD) at the next guest sector; returns the create type it implies. */
  private String openSparse(Storage storage, Path extentPath, String type, long fileSize) throws IOException {
    String where = storage.name();
    if (fileSize < 4) {
      throw new CorruptImageException(where + ": File is too small, not a valid image");
    }
    // a header cut short by the end of the file reads as zeros there, as QEMU reads it
    ByteBuffer sector = read(storage, 0, SparseHeader.SIZE);
    if (CowdHeader.hasMagic(sector)) {
      openCowd(storage, extentPath, type, fileSize, CowdHeader.decode(sector, where));
      return "vmfsSparse";
    }
    if (!SparseHeader.hasMagic(sector)) {
      throw new CorruptImageException(where + ": Image not in VMDK format");
    }
    SparseHeader header = SparseHeader.decode(sector, where);
    if (header.capacitySectors() == 0 && header.descriptorOffsetSectors() != 0) {
      if (type != null) {
        throw new UnsupportedFeatureException(where + ": a sparse extent holding a descriptor of its own is not"
            + " supported inside a descriptor");
      }
      // a sparse file whose embedded descriptor lists the extents (QEMU reads it as a descriptor file)
      long offset = checkedBytes(header.descriptorOffsetSectors(), where, "descriptorOffset");
      int length = (int) Math.min(Math.max(fileSize - offset, 0), VmdkLimits.MAX_DESCRIPTOR_BYTES);
      Descriptor embedded = descriptorAt(storage, offset, length);
      return openDescriptor(embedded, name);
    }
    if (header.gdOffsetSectors() == SparseHeader.GD_AT_END) {
      header = footerHeader(storage, fileSize, where);
    }
    if (header.version() > 3) {
      throw new UnsupportedFeatureException(where + ": Unsupported VMDK version " + header.version());
    }
    if (header.gtesPerGt() > VmdkLimits.MAX_GTES_PER_GT) {
      // QEMU's words; the limit is VmdkLimits.MAX_GTES_PER_GT entries
      throw new ImageLimitException(where + ": L2 table size too big");
    }
    long grainSectors = header.grainSectors();
    // vmdk_open_vmdk4's uint32_t l1_entry_sectors and l1_size: the product and the quotient truncated
    long l1EntrySectors = header.gtesPerGt() * grainSectors & 0xffffffffL;
    if (l1EntrySectors == 0) {
      throw new CorruptImageException(where + ": L1 entry size is invalid");
    }
    long capacity = header.capacitySectors();
    long l1Size = Long.divideUnsigned(capacity + l1EntrySectors - 1, l1EntrySectors) & 0xffffffffL;
    long overhead = header.overheadSectors();
    if (overhead < 0 || overhead > VmdkLimits.MAX_SECTORS || fileSize < overhead << 9) {
      throw new CorruptImageException(where + ": File truncated, expecting at least "
          + (overhead < 0 || overhead > VmdkLimits.MAX_SECTORS ? Long.toUnsignedString(overhead) + " sectors"
              : (overhead << 9) + " bytes"));
    }
    if (grainSectors < 0 || grainSectors > VmdkLimits.MAX_GRAIN_SECTORS) {
      throw new CorruptImageException(where + ": Invalid granularity, image may be corrupt");
    }
    if (l1Size > QEMU_MAX_L1_SIZE) {
      throw new ImageLimitException(where + ": L1 size too big");
    }
    if (capacity < 0 || capacity > VmdkLimits.MAX_SECTORS - nextSector) {
      throw new ImageLimitException(where + ": capacity of " + Long.toUnsignedString(capacity)
          + " sectors makes the disk larger than qcow4j addresses");
    }
    long coverage = header.gtesPerGt() * grainSectors;
    long gdEntries = capacity / coverage + (capacity % coverage != 0 ? 1 : 0);
    if (gdEntries > VmdkLimits.MAX_GD_ENTRIES) {
      throw new ImageLimitException(where + ": grain directory of " + gdEntries + " entries is over the limit of "
          + VmdkLimits.MAX_GD_ENTRIES);
    }
    boolean compressed = header.compressed();
    if (compressed && (grainSectors << 9) > VmdkLimits.MAX_COMPRESSED_GRAIN_BYTES) {
      throw new ImageLimitException(where + ": compressed grains of " + (grainSectors << 9)
          + " bytes are over the limit of " + VmdkLimits.MAX_COMPRESSED_GRAIN_BYTES);
    }
    int[] directory = readDirectory(storage, header.gdOffsetSectors(), gdEntries, fileSize, where);
    extents.add(new SparseExtent(nextSector, capacity, storage, extentPath, type, grainSectors,
        (int) header.gtesPerGt(), directory, compressed, header.hasMarkers(), header.zeroedGrains(), fileSize,
        options.cacheBytes()));
    nextSector += capacity;
    return compressed ? "streamOptimized" : "monolithicSparse";
  }

  /** The header a streamOptimized extent keeps in its footer, after the footer marker and before end-of-stream. */
  private SparseHeader footerHeader(Storage storage, long fileSize, String where) throws IOException {
    long footerOffset = (fileSize + 511) / 512 * 512 - 3 * 512;
    if (footerOffset < SparseHeader.SIZE) {
      throw new CorruptImageException(where + ": Invalid footer");
    }
    ByteBuffer footer = read(storage, footerOffset, 3 * 512);
    Marker footerMarker = Marker.decode(footer.slice(0, 16));
    Marker endMarker = Marker.decode(footer.slice(1024, 16));
    if (!SparseHeader.hasMagic(footer.slice(512, 512)) || !footerMarker.is(Marker.FOOTER)
        || endMarker.value() != 0 || !endMarker.is(Marker.END_OF_STREAM)) {
      throw new CorruptImageException(where + ": Invalid footer");
    }
    return SparseHeader.decode(footer.slice(512, 512), where);
  }

  private void openCowd(Storage storage, Path extentPath, String type, long fileSize, CowdHeader header)
      throws IOException {
    String where = storage.name();
    long grainSectors = header.grainSectors();
    if (grainSectors == 0 || grainSectors > VmdkLimits.MAX_GRAIN_SECTORS) {
      throw new CorruptImageException(where + ": Invalid granularity, image may be corrupt");
    }
    long capacity = header.capacitySectors();
    if (capacity > VmdkLimits.MAX_SECTORS - nextSector) {
      throw new ImageLimitException(where + ": capacity of " + capacity
          + " sectors makes the disk larger than qcow4j addresses");
    }
    if (header.gdEntries() > VmdkLimits.MAX_GD_ENTRIES) {
      throw new ImageLimitException(where + ": grain directory of " + header.gdEntries()
          + " entries is over the limit of " + VmdkLimits.MAX_GD_ENTRIES);
    }
    int[] directory = readDirectory(storage, header.gdOffsetSectors(), header.gdEntries(), fileSize, where);
    extents.add(new SparseExtent(nextSector, capacity, storage, extentPath, type, grainSectors,
        CowdHeader.GTES_PER_GT, directory, false, false, false, fileSize, options.cacheBytes()));
    nextSector += capacity;
  }

  private int[] readDirectory(Storage storage, long gdOffsetSectors, long entries, long fileSize, String where)
      throws IOException {
    long offset = checkedBytes(gdOffsetSectors, where, "grain directory offset");
    long bytes = entries * 4;
    if (offset + bytes > fileSize) {
      throw new CorruptImageException(where + ": grain directory at offset " + offset + " (" + entries
          + " entries) lies past the end of the file (" + fileSize + " bytes)");
    }
    ByteBuffer buffer = ByteBuffer.allocate((int) bytes);
    storage.readOrZero(buffer, offset);
    int[] directory = new int[(int) entries];
    buffer.flip().order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(directory);
    return directory;
  }

  private static long checkedBytes(long sectors, String where, String field) throws CorruptImageException {
    if (sectors < 0 || sectors > VmdkLimits.MAX_SECTORS) {
      throw new CorruptImageException(where + ": " + field + " of " + Long.toUnsignedString(sectors)
          + " sectors lies past any file");
    }
    return sectors << 9;
  }

  private Storage openFile(Path file) throws IOException {
    Storage storage;
    try {
      storage = FileStorage.open(file, true, LockRequest.forImageFile(options.withReadOnly(true)));
    } catch (NoSuchFileException e) {
      if (file.equals(path)) {
        throw e;
      }
      // QEMU names the missing extent inside the image's failure
      FileSystemException missing = new FileSystemException(file.toString(), null, "Could not open '" + file
          + "': No such file or directory");
      missing.initCause(e);
      throw missing;
    }
    opened.add(storage);
    return storage;
  }

  private static ByteBuffer read(Storage storage, long offset, int length) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(length);
    storage.readOrZero(buffer, offset);
    return buffer.flip();
  }
}
