package io.qcow4j.qcow2.format;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.UnsupportedFeatureException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Decodes and encodes the qcow2 header, validating every field against the format and our limits. */
public final class HeaderCodec {
  public static final int MIN_CLUSTER_BITS = 9;
  public static final int MAX_CLUSTER_BITS = 21;
  public static final long MAX_L1_BYTES = 32L << 20;
  public static final long MAX_REFCOUNT_TABLE_BYTES = 8L << 20;
  public static final int MAX_SNAPSHOTS = 65536;
  public static final int MAX_BACKING_NAME_BYTES = 1023;
  public static final int MAX_REFCOUNT_ORDER = 6;
  /** QEMU's limit on the virtual size: 2^61 bytes, so that offsets never overflow. */
  public static final long MAX_VIRTUAL_SIZE = 1L << 61;

  private HeaderCodec() {}

  /** The bytes of the header to read first: enough for every fixed field of v3. */
  public static final int FIXED_PART_BYTES = Header.V3_LENGTH;

  /**
   * The cluster size announced by the fixed part of a header, validated, so that the caller knows
   * how much of the file to read before {@link #decode}.
   */
  public static int clusterSizeOf(String file, ByteBuffer fixedPart) throws IOException {
    ByteBuffer in = fixedPart.duplicate().order(java.nio.ByteOrder.BIG_ENDIAN);
    checkShort(file, in);
    checkMagicAndVersion(file, in);
    int clusterBits = in.getInt(in.position() + 20);
    checkClusterBits(file, clusterBits);
    return 1 << clusterBits;
  }

  /**
   * Decodes the header from the start of the file: {@code firstCluster} holds its first cluster (or
   * the whole file when shorter); {@code fileSize} is the file's length, for bounds checks.
   */
  public static Header decode(String file, ByteBuffer firstCluster, long fileSize) throws IOException {
    return decode(file, firstCluster, fileSize, false);
  }

  /**
   * As {@link #decode(String, ByteBuffer, long)}; {@code checkMode} leaves the snapshot table's
   * count and offset unchecked, as QEMU's open for a check (BDRV_O_CHECK) does: the check reads
   * the table itself and can repair it.
   */
  public static Header decode(String file, ByteBuffer firstCluster, long fileSize, boolean checkMode)
      throws IOException {
    ByteBuffer in = firstCluster.slice().order(java.nio.ByteOrder.BIG_ENDIAN);
    checkShort(file, in);
    int version = checkMagicAndVersion(file, in);
    long backingFileOffset = in.getLong(8);
    int backingFileSize = in.getInt(16);
    int clusterBits = in.getInt(20);
    checkClusterBits(file, clusterBits);
    int clusterSize = 1 << clusterBits;
    long size = in.getLong(24);
    int cryptMethod = in.getInt(32);
    int l1Size = in.getInt(36);
    long l1TableOffset = in.getLong(40);
    long refcountTableOffset = in.getLong(48);
    int refcountTableClusters = in.getInt(56);
    int snapshotCount = in.getInt(60);
    long snapshotsOffset = in.getLong(64);

    long incompatible = 0;
    long compatible = 0;
    long autoclear = 0;
    int refcountOrder = 4;
    int headerLength = Header.V2_LENGTH;
    int compressionType = Header.COMPRESSION_ZLIB;
    if (version >= 3) {
      if (in.remaining() < Header.V3_MIN_LENGTH) {
        throw new CorruptImageException(file + ": file is too short for a qcow2 v3 header (" + in.remaining()
            + " bytes; its fields end at offset 104)");
      }
      incompatible = in.getLong(72);
      compatible = in.getLong(80);
      autoclear = in.getLong(88);
      refcountOrder = in.getInt(96);
      headerLength = in.getInt(100);
      if (Integer.toUnsignedLong(headerLength) < Header.V3_MIN_LENGTH) {
        throw new CorruptImageException(file + ": qcow2 header too short");
      }
      if (Integer.toUnsignedLong(headerLength) > clusterSize) {
        throw new CorruptImageException(file + ": qcow2 header exceeds cluster size");
      }
      if ((headerLength & 7) != 0) {
        throw new CorruptImageException(file + ": header_length " + headerLength
            + " at offset 100 is invalid (at least 104 and a multiple of 8)");
      }
      if (headerLength > clusterSize || headerLength > in.remaining()) {
        throw new CorruptImageException(file + ": header_length " + headerLength
            + " at offset 100 exceeds the cluster size (" + clusterSize + ") or the file");
      }
      if (headerLength > 104) {
        compressionType = in.get(104) & 0xff;
      }
    }

    if (cryptMethod < 0 || cryptMethod > Header.CRYPT_LUKS) {
      throw new UnsupportedFeatureException(file + ": Unsupported encryption method " + cryptMethod);
    }
    if (refcountOrder > MAX_REFCOUNT_ORDER || refcountOrder < 0) {
      throw new CorruptImageException(file + ": Reference count entry width too large; may not exceed 64 bits");
    }
    if (size < 0 || size > MAX_VIRTUAL_SIZE) {
      throw new ImageLimitException(file + ": virtual size " + Long.toUnsignedString(size)
          + " at offset 24 exceeds the limit of " + MAX_VIRTUAL_SIZE + " bytes");
    }

    if (Long.compareUnsigned(backingFileOffset, clusterSize) > 0) {
      throw new CorruptImageException(file + ": Invalid backing file offset");
    }
    // QEMU's validate_compression_type, before the incompatible features, in its words
    boolean hasCompressionBit = (incompatible & Features.INCOMPAT_COMPRESSION_TYPE) != 0;
    if (compressionType != Header.COMPRESSION_ZLIB && compressionType != Header.COMPRESSION_ZSTD) {
      throw new UnsupportedFeatureException(file + ": qcow2: unknown compression type: " + compressionType);
    }
    if (hasCompressionBit != (compressionType != Header.COMPRESSION_ZLIB)) {
      throw new CorruptImageException(file + ": qcow2: Compression type incompatible feature bit must "
          + (hasCompressionBit ? "not " : "") + "be set");
    }
    List<HeaderExtension> extensions = decodeExtensions(file, in, headerLength, clusterSize, backingFileOffset);
    List<FeatureName> featureNames = extensions.stream()
        .filter(e -> e.type() == HeaderExtension.FEATURE_NAME_TABLE)
        .findFirst().map(e -> FeatureName.decodeTable(e.data())).orElse(List.of());
    checkIncompatible(file, incompatible, featureNames);
    for (HeaderExtension extension : extensions) {
      if (extension.type() == HeaderExtension.FULL_DISK_ENCRYPTION) {
        CryptoHeader.decode(file, extension, cryptMethod, clusterSize, fileSize);
      }
    }

    boolean extendedL2 = (incompatible & Features.INCOMPAT_EXTENDED_L2) != 0;
    if (extendedL2 && clusterBits < 14) {
      throw new CorruptImageException(file + ": extended L2 entries need a cluster size of at least 16384 bytes, not "
          + clusterSize + " (cluster_bits " + clusterBits + " at offset 20)");
    }
    if ((incompatible & Features.INCOMPAT_DATA_FILE) == 0 && (autoclear & Features.AUTOCLEAR_DATA_FILE_RAW) != 0) {
      // QEMU clears a stray data-file-raw bit on images without a data file; so do we when decoding.
      autoclear &= ~Features.AUTOCLEAR_DATA_FILE_RAW;
    }

    checkTables(file, clusterSize, size, l1Size, l1TableOffset, refcountTableOffset, refcountTableClusters,
        snapshotCount, snapshotsOffset, fileSize, extendedL2, checkMode);

    String backingFile = null;
    if (backingFileOffset != 0) {
      if (backingFileSize > MAX_BACKING_NAME_BYTES || backingFileSize < 0) {
        throw new ImageLimitException(file + ": Backing file name too long");
      }
      // Subtract rather than add: an offset near 2^63 must not wrap around and pass.
      if (backingFileOffset < 0 || backingFileOffset > clusterSize - backingFileSize
          || backingFileOffset > in.limit() - backingFileSize) {
        throw new CorruptImageException(file + ": backing file name at offset " + backingFileOffset
            + " (length " + backingFileSize + ") does not lie in the first cluster");
      }
      byte[] name = new byte[backingFileSize];
      in.get((int) backingFileOffset, name);
      try {
        // Strict: a name mangled by replacement characters would open the wrong file and, written
        // back by encode(), change the header (it can even grow past the 1023-byte limit).
        backingFile = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(name)).toString();
      } catch (CharacterCodingException e) {
        throw new UnsupportedFeatureException(file + ": backing file name at offset " + backingFileOffset
            + " (backing_file_offset at offset 8) is not valid UTF-8");
      }
    }

    // the disk is whole sectors, as QEMU's bs->total_sectors (header.size / 512): a size the header
    // gives unaligned is cut down to them, and written back so at the next header update
    Header header = new Header(version, backingFileOffset, backingFileSize, clusterBits, size & ~511L, cryptMethod, l1Size,
        l1TableOffset, refcountTableOffset, refcountTableClusters, snapshotCount, snapshotsOffset, incompatible,
        compatible, autoclear, refcountOrder, headerLength, compressionType, extensions, backingFile);
    checkRewritable(file, header);
    return header;
  }

  /**
   * Refuses a header that could be read but not written back: every header update (a resize, a
   * snapshot, the corrupt or dirty bit) rewrites the fields, the extensions, their end marker and
   * the backing file name within the first cluster, as {@link #encode} does.
   */
  private static void checkRewritable(String file, Header header) throws CorruptImageException {
    int clusterSize = header.clusterSize();
    if (header.headerLength() + 8L > clusterSize) {
      throw new CorruptImageException(file + ": header_length " + header.headerLength() + " at offset 100 leaves no room"
          + " in the first cluster (" + clusterSize + " bytes) for the end of the header extensions");
    }
    long needed = encodedLength(header);
    if (needed > clusterSize) {
      throw new CorruptImageException(file + ": the header (header_length " + header.headerLength()
          + " at offset 100), its extensions and backing file name need " + needed
          + " bytes, more than the first cluster (" + clusterSize + " bytes)");
    }
  }

  /** The number of bytes {@link #encode} writes for {@code header}. */
  public static long encodedLength(Header header) {
    long length = header.version() >= 3 ? header.headerLength() : Header.V2_LENGTH;
    for (HeaderExtension extension : header.extensions()) {
      length += 8 + ((extension.data().length + 7L) & ~7L);
    }
    length += 8;
    if (header.backingFile() != null) {
      length += header.backingFile().getBytes(StandardCharsets.UTF_8).length;
    }
    return length;
  }

  /** A file shorter than a v2 header: QEMU reads zeros past its end, so without the magic it is not qcow2. */
  private static void checkShort(String file, ByteBuffer in) throws IOException {
    if (in.remaining() >= Header.V2_LENGTH) {
      return;
    }
    byte[] magic = new byte[4];
    in.duplicate().get(magic, 0, Math.min(4, in.remaining()));
    if (ByteBuffer.wrap(magic).getInt() != Header.MAGIC) {
      throw new CorruptImageException(file + ": Image is not in qcow2 format");
    }
    throw new CorruptImageException(file + ": file is too short for a qcow2 header (" + in.remaining() + " bytes)");
  }

  private static int checkMagicAndVersion(String file, ByteBuffer in) throws IOException {
    int magic = in.getInt(in.position());
    if (magic != Header.MAGIC) {
      throw new CorruptImageException(file + ": Image is not in qcow2 format");
    }
    int version = in.getInt(in.position() + 4);
    if (version != 2 && version != 3) {
      throw new UnsupportedFeatureException(file + ": Unsupported qcow2 version " + Integer.toUnsignedString(version));
    }
    return version;
  }

  private static void checkClusterBits(String file, int clusterBits) throws IOException {
    // QEMU's words; below 512 bytes the format forbids, above 2 MiB is the limit QEMU and we share
    if (clusterBits < MIN_CLUSTER_BITS) {
      throw new CorruptImageException(file + ": Unsupported cluster size: 2^" + Integer.toUnsignedString(clusterBits));
    }
    if (clusterBits > MAX_CLUSTER_BITS) {
      throw new ImageLimitException(file + ": Unsupported cluster size: 2^" + Integer.toUnsignedString(clusterBits));
    }
  }

  private static List<HeaderExtension> decodeExtensions(
      String file, ByteBuffer in, int headerLength, int clusterSize, long backingFileOffset)
      throws CorruptImageException {
    List<HeaderExtension> extensions = new ArrayList<>();
    long end = Math.min(clusterSize, in.limit());
    if (backingFileOffset > headerLength && backingFileOffset < end) {
      end = backingFileOffset;
    }
    int at = headerLength;
    while (at + 8 <= end) {
      int type = in.getInt(at);
      long length = Integer.toUnsignedLong(in.getInt(at + 4));
      if (type == HeaderExtension.END) {
        return extensions;
      }
      if (at + 8 + length > end) {
        throw new CorruptImageException(file + ": Header extension too large");
      }
      byte[] data = new byte[(int) length];
      in.get(at + 8, data);
      extensions.add(new HeaderExtension(type, data));
      at += 8 + (int) ((length + 7) & ~7L);
    }
    if (at < end) {
      throw new CorruptImageException(file + ": Header extension too large");
    }
    // The area ended exactly without an end marker: QEMU accepts this as the end.
    return extensions;
  }

  private static void checkIncompatible(String file, long incompatible, List<FeatureName> names)
      throws UnsupportedFeatureException {
    long unknown = incompatible & ~Features.INCOMPAT_KNOWN;
    if (unknown == 0) {
      return;
    }
    // QEMU's words: the table's names of unknown bits in table order, then the rest as a mask
    List<String> described = new ArrayList<>();
    long unnamed = unknown;
    for (FeatureName name : names) {
      if (name.kind() == Features.Kind.INCOMPATIBLE && name.bit() < 64 && (unnamed & (1L << name.bit())) != 0) {
        described.add(name.name());
        unnamed &= ~(1L << name.bit());
      }
    }
    if (unnamed != 0) {
      described.add("Unknown incompatible feature: " + Long.toHexString(unnamed));
    }
    throw new UnsupportedFeatureException(file + ": Unsupported qcow2 feature(s): " + String.join(", ", described));
  }

  private static void checkTables(
      String file, int clusterSize, long size, int l1Size, long l1TableOffset, long refcountTableOffset,
      int refcountTableClusters, int snapshotCount, long snapshotsOffset, long fileSize, boolean extendedL2,
      boolean checkMode) throws IOException {
    // QEMU's checks, in its order and words (qcow2_do_open, qcow2_validate_table)
    if (refcountTableClusters == 0 && !checkMode) {
      throw new CorruptImageException(file + ": Image does not contain a reference count table");
    }
    long refcountTableClustersUnsigned = Integer.toUnsignedLong(refcountTableClusters);
    validateTable(file, "Reference count table", refcountTableOffset, refcountTableClustersUnsigned, clusterSize,
        MAX_REFCOUNT_TABLE_BYTES, clusterSize);
    if (!checkMode) {
      checkSnapshotTable(file, clusterSize, snapshotCount, snapshotsOffset);
    }
    long l1Entries = Integer.toUnsignedLong(l1Size);
    validateTable(file, "Active L1 table", l1TableOffset, l1Entries, 8, MAX_L1_BYTES, clusterSize);
    long l2Entries = clusterSize / (extendedL2 ? 16 : 8);
    long bytesPerL1Entry = l2Entries * clusterSize;
    long neededL1 = (size + bytesPerL1Entry - 1) / bytesPerL1Entry;
    if (neededL1 > Integer.MAX_VALUE) {
      throw new ImageLimitException(file + ": Image is too big");
    }
    if (l1Entries < neededL1) {
      throw new CorruptImageException(file + ": L1 table is too small");
    }
    // ours: the tables lie in the file, after the header; a check opens what QEMU opens (its tables
    // read as zeros past the end of the file) to report what it references there
    if (checkMode) {
      return;
    }
    if (l1Entries > 0) {
      checkTableBounds(file, "L1 table", "l1_table_offset at offset 40", l1TableOffset, l1Entries * 8, clusterSize, fileSize);
    }
    checkTableBounds(file, "refcount table", "refcount_table_offset at offset 48", refcountTableOffset,
        refcountTableClustersUnsigned * clusterSize, clusterSize, fileSize);
  }

  /** QEMU's qcow2_validate_table: "NAME too large" past the limit, "NAME offset invalid" unaligned or overflowing. */
  private static void validateTable(String file, String name, long offset, long entries, long entryBytes, long maxBytes,
      int clusterSize) throws IOException {
    if (entries > maxBytes / entryBytes) {
      throw new ImageLimitException(file + ": " + name + " too large");
    }
    if (Long.compareUnsigned(offset, Long.MAX_VALUE - entries * entryBytes) > 0 || (offset & (clusterSize - 1)) != 0) {
      throw new CorruptImageException(file + ": " + name + " offset invalid");
    }
  }

  /**
   * QEMU's checks of the snapshot table at open (qcow2_validate_table), with its messages: at most
   * 65536 entries, and a cluster-aligned offset that leaves room for them below 2^63, even with no
   * snapshots. A table past the end of the file is not refused: QEMU reads zeros there.
   */
  private static void checkSnapshotTable(String file, int clusterSize, int snapshotCount, long snapshotsOffset)
      throws IOException {
    long entries = Integer.toUnsignedLong(snapshotCount);
    if (entries > MAX_SNAPSHOTS) {
      throw new ImageLimitException(file + ": Snapshot table too large");
    }
    long minimumBytes = entries * SnapshotTableCodec.FIXED_BYTES;
    if (snapshotsOffset < 0 || Long.MAX_VALUE - minimumBytes < snapshotsOffset
        || (snapshotsOffset & (clusterSize - 1)) != 0) {
      throw new CorruptImageException(file + ": Snapshot table offset invalid");
    }
  }

  private static void checkTableBounds(
      String file, String table, String field, long offset, long length, int clusterSize, long fileSize)
      throws CorruptImageException {
    if (offset <= 0 || (offset & (clusterSize - 1)) != 0) {
      throw new CorruptImageException(file + ": " + table + " offset " + offset + " (" + field
          + ") is " + (offset <= 0 ? "inside the header" : "not aligned to a cluster (" + clusterSize + " bytes)"));
    }
    if (offset + length > fileSize || offset + length < offset) {
      throw new CorruptImageException(file + ": " + table + " at offset " + offset + " (" + length
          + " bytes, " + field + ") lies past the end of the file (" + fileSize + " bytes)");
    }
  }

  /**
   * Encodes the header into the start of a cluster: fields, extensions, end marker, backing name;
   * a header that does not fit in the first cluster is refused (check with {@link #encodedLength}).
   */
  public static byte[] encode(Header header) {
    int clusterSize = header.clusterSize();
    long length = encodedLength(header);
    if (length > clusterSize) {
      throw new IllegalArgumentException("the header with its extensions and backing file name needs " + length
          + " bytes, more than the first cluster holds (" + clusterSize + ")");
    }
    ByteBuffer out = ByteBuffer.allocate(clusterSize);
    out.putInt(Header.MAGIC).putInt(header.version()).putLong(0).putInt(0).putInt(header.clusterBits())
        .putLong(header.size()).putInt(header.cryptMethod()).putInt(header.l1Size()).putLong(header.l1TableOffset())
        .putLong(header.refcountTableOffset()).putInt(header.refcountTableClusters()).putInt(header.snapshotCount())
        .putLong(header.snapshotsOffset());
    if (header.version() >= 3) {
      out.putLong(header.incompatibleFeatures()).putLong(header.compatibleFeatures())
          .putLong(header.autoclearFeatures()).putInt(header.refcountOrder()).putInt(header.headerLength());
      if (header.headerLength() > 104) {
        out.put((byte) header.compressionType());
      }
    }
    out.position(header.headerLength());
    for (HeaderExtension extension : header.extensions()) {
      byte[] data = extension.data();
      out.putInt(extension.type()).putInt(data.length).put(data);
      out.position(out.position() + ((8 - (data.length & 7)) & 7));
    }
    out.putInt(HeaderExtension.END).putInt(0);
    if (header.backingFile() != null) {
      byte[] name = header.backingFile().getBytes(StandardCharsets.UTF_8);
      int nameOffset = out.position();
      out.put(name);
      out.putLong(8, nameOffset).putInt(16, name.length);
    }
    byte[] bytes = new byte[out.position()];
    out.get(0, bytes);
    return bytes;
  }
}
