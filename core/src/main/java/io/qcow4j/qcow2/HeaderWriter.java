package io.qcow4j.qcow2;

import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.qcow2.format.FeatureName;
import io.qcow4j.qcow2.format.Features;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.HeaderCodec;
import io.qcow4j.qcow2.format.HeaderExtension;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Holds an image's header as it is now and is the only place that writes it to the file. */
final class HeaderWriter {
  private final String name;
  private final Storage storage;
  private final Storage dataStorage;
  private final int clusterSize;
  private volatile Header header;
  /** Serializes header writes, so that no two read-modify-writes of the header lose a bit. */
  private final Object headerLock = new Object();

  HeaderWriter(Storage storage, Storage dataStorage, Header header) {
    this.name = storage.name();
    this.storage = storage;
    this.dataStorage = dataStorage;
    this.clusterSize = header.clusterSize();
    this.header = header;
  }

  /** The decoded header as it is now. */
  Header header() {
    return header;
  }

  /** Writes the header's fixed fields (the extensions and backing name stay as they are). */
  void writeHeader(Header updated) throws IOException {
    synchronized (headerLock) {
      byte[] encoded = HeaderCodec.encode(updated);
      int fixedLength = updated.version() >= 3 ? updated.headerLength() : Header.V2_LENGTH;
      storage.write(ByteBuffer.wrap(encoded, 0, fixedLength), 0);
      header = updated;
    }
  }

  /** Sets and clears incompatible feature bits of the header as it is now, in one header write. */
  void changeIncompatibleFeatures(long set, long clear) throws IOException {
    synchronized (headerLock) {
      writeHeader(header.withIncompatibleFeatures((header.incompatibleFeatures() | set) & ~clear));
    }
  }

  void updateRefcountTable(long offset, int clusters) throws IOException {
    synchronized (headerLock) {
      writeHeader(header.withRefcountTable(offset, clusters));
      storage.force(false);
    }
  }

  /** Sets the corrupt bit (best effort: the image is already in trouble). */
  void markCorrupt() {
    try {
      synchronized (headerLock) {
        if (header.version() >= 3 && !header.corrupt()) {
          changeIncompatibleFeatures(Features.INCOMPAT_CORRUPT, 0);
          storage.force(false);
        }
      }
    } catch (IOException e) {
      // The original failure is the one reported.
    }
  }

  /**
   * Clears the autoclear bits this engine does not maintain (invariant 7): unknown ones, and the
   * bitmaps bit unless {@code keepBitmaps} (the bitmaps are loaded and tracked). Called before the first change
   * of a read-write open, once it passed its checks: an open that changes nothing, or whose first
   * change is refused as corruption, leaves the structures those bits describe valid.
   */
  void clearAutoclearBits(boolean keepBitmaps) throws IOException {
    synchronized (headerLock) {
      long known = Features.AUTOCLEAR_DATA_FILE_RAW | (keepBitmaps ? Features.AUTOCLEAR_BITMAPS : 0);
      long kept = header.autoclearFeatures() & known;
      if (kept != header.autoclearFeatures()) {
        writeHeader(header.withAutoclearFeatures(kept));
        storage.force(false);
      }
    }
  }

  /**
   * Rewrites the whole header area (fields, extensions, backing file name) in one write within the
   * first cluster, with barriers around it.
   */
  void rewriteHeaderArea(Header updated) throws IOException {
    updated = withoutSmallClusterFeatureTable(updated);
    if (HeaderCodec.encodedLength(updated) > clusterSize) {
      throw new ImageLimitException(name + ": the header with its extensions and backing file name does not fit in"
          + " the first cluster (" + clusterSize + " bytes)");
    }
    byte[] encoded = HeaderCodec.encode(updated);
    storage.force(false);
    storage.write(ByteBuffer.wrap(encoded), 0);
    storage.force(false);
    // what was just written: a check may write it before the snapshot table it points at is repaired
    header = HeaderCodec.decode(name, ByteBuffer.wrap(java.util.Arrays.copyOf(encoded, Math.max(encoded.length, 512))),
        storage.size(), true);
  }

  /**
   * {@code header} without its feature name table where QEMU's qcow2_update_header would write none
   * (clusters of 4 KiB and less): an image made by an older qcow4j has one filling a 512-byte
   * cluster, which would leave no room for a backing file name.
   */
  private Header withoutSmallClusterFeatureTable(Header header) {
    if (FeatureName.tableWritten(clusterSize) || header.extension(HeaderExtension.FEATURE_NAME_TABLE).isEmpty()) {
      return header;
    }
    List<HeaderExtension> kept = new ArrayList<>();
    for (HeaderExtension extension : header.extensions()) {
      if (extension.type() != HeaderExtension.FEATURE_NAME_TABLE) {
        kept.add(extension);
      }
    }
    return new Header(header.version(), header.backingFileOffset(), header.backingFileSize(), header.clusterBits(),
        header.size(), header.cryptMethod(), header.l1Size(), header.l1TableOffset(), header.refcountTableOffset(),
        header.refcountTableClusters(), header.snapshotCount(), header.snapshotsOffset(),
        header.incompatibleFeatures(), header.compatibleFeatures(), header.autoclearFeatures(),
        header.refcountOrder(), header.headerLength(), header.compressionType(), kept, header.backingFile());
  }

  /**
   * Records {@code backingName} and {@code backingFormat} in the header (null or empty name: no
   * backing file; null format: none recorded), as qemu-img rebase and amend do. Everything written
   * so far is made durable first, then the header area of cluster 0 is rewritten in one write and
   * made durable, with {@code writer}'s I/O drained.
   */
  void setBackingFile(String backingName, String backingFormat, WritePath writer) throws IOException {
    String newName = backingName == null || backingName.isEmpty() ? null : backingName;
    if (newName == null && backingFormat != null) {
      throw new IllegalArgumentException(name + ": a backing format needs a backing file name");
    }
    if (newName != null && header.dataFileRaw()) {
      throw new UnsupportedFeatureException(name + ": an image whose external data file is raw (data_file_raw)"
          + " cannot have a backing file");
    }
    byte[] nameBytes = newName == null ? new byte[0] : newName.getBytes(StandardCharsets.UTF_8);
    if (nameBytes.length > HeaderCodec.MAX_BACKING_NAME_BYTES) {
      throw new ImageLimitException(name + ": backing file name of " + nameBytes.length
          + " bytes exceeds the limit of " + HeaderCodec.MAX_BACKING_NAME_BYTES);
    }
    writer.exclusive(() -> {
      writeBackingFile(newName, nameBytes, backingFormat);
      return null;
    });
  }

  private void writeBackingFile(String newName, byte[] nameBytes, String backingFormat) throws IOException {
    Header current = header;
    List<HeaderExtension> extensions = new ArrayList<>();
    if (backingFormat != null) {
      // first, where QEMU's qcow2_update_header puts it
      extensions.add(new HeaderExtension(HeaderExtension.BACKING_FORMAT,
          backingFormat.getBytes(StandardCharsets.UTF_8)));
    }
    for (HeaderExtension extension : current.extensions()) {
      // qcow2_update_header writes no feature name table into small clusters (see FeatureName)
      if (extension.type() != HeaderExtension.BACKING_FORMAT && !(extension.type()
          == HeaderExtension.FEATURE_NAME_TABLE && !FeatureName.tableWritten(clusterSize))) {
        extensions.add(extension);
      }
    }
    int fixedLength = current.version() >= 3 ? current.headerLength() : Header.V2_LENGTH;
    long nameOffset = fixedLength + 8L;
    for (HeaderExtension extension : extensions) {
      nameOffset += extension.encodedLength();
    }
    long newEnd = nameOffset + nameBytes.length;
    if (newEnd > clusterSize) {
      throw new ImageLimitException(name + ": the header with backing file '" + newName + "' needs " + newEnd
          + " bytes, more than the first cluster (" + clusterSize + " bytes) holds");
    }
    Header updated = new Header(current.version(), newName == null ? 0 : nameOffset, nameBytes.length,
        current.clusterBits(), current.size(), current.cryptMethod(), current.l1Size(), current.l1TableOffset(),
        current.refcountTableOffset(), current.refcountTableClusters(), current.snapshotCount(),
        current.snapshotsOffset(), current.incompatibleFeatures(), current.compatibleFeatures(),
        current.autoclearFeatures(), current.refcountOrder(), current.headerLength(), current.compressionType(),
        extensions, newName);
    byte[] encoded = HeaderCodec.encode(updated);
    // The old header may reach further (a longer name, more extensions): zero what it used past the new end.
    long oldEnd = Math.max(HeaderCodec.encode(current).length,
        current.backingFileOffset() + Integer.toUnsignedLong(current.backingFileSize()));
    ByteBuffer area = ByteBuffer.allocate((int) Math.max(encoded.length, Math.min(oldEnd, clusterSize)));
    area.put(encoded);
    if (current.version() >= 3 && fixedLength > Header.V3_LENGTH) {
      // header fields this engine does not know (header_length past 112) are kept as they are
      ByteBuffer unknown = ByteBuffer.allocate(fixedLength - Header.V3_LENGTH);
      storage.readFully(unknown, Header.V3_LENGTH);
      area.put(Header.V3_LENGTH, unknown.array());
    }
    area.clear();
    // The data the new backing file relies on is durable before the header names it, and the header
    // is durable before this returns.
    if (dataStorage != storage) {
      dataStorage.force(false);
    }
    storage.force(false);
    storage.write(area, 0);
    storage.force(false);
    header = updated;
  }
}
