package io.qcow4j.qcow1;

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
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * A qcow (version 1) image read as QEMU 7.2's qcow driver reads it: clusters through the L1 and L2
 * tables, compressed clusters inflated (raw deflate), unallocated clusters from the backing file
 * (or zeros). Encrypted images are refused.
 */
public final class Qcow1File extends ReadOnlyImage {
  /** The most L2 entries one lookup reads. */
  private static final int MAX_ENTRIES_PER_LOOKUP = 4096;
  /** The longest backing file name QEMU reads. */
  private static final int MAX_BACKING_NAME = 1023;

  private final Qcow1Header header;
  private final long[] l1Table;
  private final String backingName;
  /** The last cluster inflated: its descriptor and bytes, replaced whole. */
  private volatile Inflated lastInflated;

  private record Inflated(long descriptor, byte[] bytes) {}

  private Qcow1File(Storage storage, Path path, long size, DiskFile backing, Qcow1Header header, long[] l1Table,
      String backingName) {
    super(storage, path, size, backing);
    this.header = header;
    this.l1Table = l1Table;
    this.backingName = backingName;
  }

  /**
   * Opens the qcow image held by {@code storage} (named {@code path}), checked as qcow_open checks
   * it and within our limits, with its backing file through {@code backings} (none when null); the
   * storage is the caller's to close if this fails.
   */
  public static Qcow1File open(Storage storage, Path path, BackingOpener backings) throws IOException {
    String name = storage.name();
    Qcow1Header header = Qcow1Header.decode(FormatReads.readOrZero(storage, 0, Qcow1Header.SIZE));
    if (header.magic() != Qcow1Header.MAGIC) {
      throw new CorruptImageException(name + ": Image not in qcow format");
    }
    if (header.version() != 1) {
      String hint = header.version() == 2 || header.version() == 3 ? "; try the 'qcow2' driver instead" : "";
      throw new UnsupportedFeatureException(name + ": qcow (v1) does not support qcow version " + header.version()
          + hint);
    }
    if (Long.compareUnsigned(header.size(), 1) <= 0) {
      throw new CorruptImageException(name + ": Image size is too small (must be at least 2 bytes)");
    }
    if (header.clusterBits() < 9 || header.clusterBits() > 16) {
      throw new CorruptImageException(name + ": Cluster size must be between 512 and 64k");
    }
    if (header.l2Bits() < 9 - 3 || header.l2Bits() > 16 - 3) {
      throw new CorruptImageException(name + ": L2 table size must be between 512 and 64k");
    }
    if (header.cryptMethod() != 0) {
      throw new UnsupportedFeatureException(name + (header.cryptMethod() == 1
          ? ": AES-CBC encrypted qcow images are not supported by qcow4j"
          : ": invalid encryption method in qcow header"));
    }
    long span = header.l2Span();
    if (Long.compareUnsigned(header.size(), -1L - span) > 0) {
      throw new ImageLimitException(name + ": Image too large");
    }
    long l1Entries = Long.divideUnsigned(header.size() + span - 1, span);
    int l1Bytes = FormatReads.tableBytes(storage, l1Entries > Integer.MAX_VALUE ? -1 : l1Entries * 8, "qcow L1 table");
    ByteBuffer l1 = ByteBuffer.wrap(FormatReads.readInside(storage, header.l1TableOffset(), l1Bytes, "qcow L1 table"))
        .order(ByteOrder.BIG_ENDIAN);
    long[] l1Table = new long[(int) l1Entries];
    for (int i = 0; i < l1Table.length; i++) {
      l1Table[i] = l1.getLong(i * 8);
    }
    String backingName = null;
    if (header.backingFileOffset() != 0) {
      if (header.backingFileSize() > MAX_BACKING_NAME) {
        throw new ImageLimitException(name + ": Backing file name too long (" + header.backingFileSize()
            + " bytes, the limit is " + MAX_BACKING_NAME + ")");
      }
      backingName = new String(FormatReads.readInside(storage, header.backingFileOffset(),
          (int) header.backingFileSize(), "backing file name"), StandardCharsets.UTF_8);
      int nul = backingName.indexOf('\0');
      if (nul >= 0) {
        backingName = backingName.substring(0, nul);
      }
    }
    long size = header.size() / 512 * 512;
    DiskFile backing = backingName != null && !backingName.isEmpty() && backings != null
        ? backings.open(path, backingName, null) : null;
    return new Qcow1File(storage, path, size, backing, header, l1Table, backingName);
  }

  @Override
  protected Mapping map(long guestOffset, long maxLength) throws IOException {
    long clusterSize = header.clusterSize();
    long span = header.l2Span();
    int l1Index = (int) (guestOffset / span);
    long inTable = guestOffset % span;
    long toTableEnd = Math.min(maxLength, span - inTable);
    long l2Offset = l1Table[l1Index];
    if (l2Offset == 0) {
      return Mapping.unallocated(toTableEnd);
    }
    if (l2Offset < 0) {
      // an offset past 2^63: no file has it (QEMU's read of it fails)
      throw new CorruptImageException(String.format("%s: L1 entry %d points at L2 table offset 0x%x, past any file",
          path, l1Index, l2Offset));
    }
    int l2Index = (int) (inTable / clusterSize);
    long inCluster = inTable % clusterSize;
    int wanted = (int) Math.min(MAX_ENTRIES_PER_LOOKUP, (inCluster + toTableEnd + clusterSize - 1) / clusterSize);
    ByteBuffer entries = ByteBuffer.wrap(FormatReads.readOrZero(storage, l2Offset + l2Index * 8L, wanted * 8))
        .order(ByteOrder.BIG_ENDIAN);
    long first = entries.getLong(0);
    if ((first & Qcow1Header.COMPRESSED) != 0) {
      return new Mapping(Math.min(toTableEnd, clusterSize - inCluster), Mapping.State.COMPRESSED, first);
    }
    int count = 1;
    long last = first;
    while (count < wanted) {
      long next = entries.getLong(count * 8);
      boolean same = first == 0 ? next == 0 : (next & Qcow1Header.COMPRESSED) == 0 && next == last + clusterSize;
      if (!same) {
        break;
      }
      last = next;
      count++;
    }
    long length = Math.min(toTableEnd, count * clusterSize - inCluster);
    return first == 0 ? Mapping.unallocated(length) : Mapping.data(length, first + inCluster);
  }

  @Override
  protected void readCompressed(long descriptor, long guestOffset, ByteBuffer dst) throws IOException {
    Inflated inflated = lastInflated;
    if (inflated == null || inflated.descriptor() != descriptor) {
      inflated = new Inflated(descriptor, inflate(descriptor, guestOffset));
      lastInflated = inflated;
    }
    int inCluster = (int) (guestOffset % header.clusterSize());
    dst.put(inflated.bytes(), inCluster, dst.remaining());
  }

  private byte[] inflate(long descriptor, long guestOffset) throws IOException {
    long hostOffset = header.compressedOffset(descriptor);
    int length = (int) header.compressedLength(descriptor);
    byte[] compressed = FormatReads.readOrZero(storage, hostOffset, length);
    byte[] cluster = new byte[(int) header.clusterSize()];
    Inflater inflater = new Inflater(true);
    try {
      inflater.setInput(compressed);
      int produced = 0;
      while (produced < cluster.length && !inflater.finished() && !inflater.needsInput()) {
        int count = inflater.inflate(cluster, produced, cluster.length - produced);
        if (count == 0 && inflater.needsDictionary()) {
          break;
        }
        produced += count;
      }
      if (produced != cluster.length) {
        throw new CorruptImageException(name() + ": compressed cluster at host offset " + hostOffset + " ("
            + length + " bytes, guest offset " + guestOffset + ") inflates to " + produced + " bytes, not "
            + cluster.length);
      }
      return cluster;
    } catch (DataFormatException e) {
      throw new CorruptImageException(name() + ": compressed cluster at host offset " + hostOffset + " (guest offset "
          + guestOffset + ") is not valid deflate data: " + e.getMessage(), e);
    } finally {
      inflater.end();
    }
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.QCOW;
  }

  @Override
  public ImageInfo info() throws IOException {
    return new ImageInfo(path, ImageFormat.QCOW, size(), path == null ? -1 : HostFiles.allocatedBytes(path),
        backingName, null, null, null, header.clusterSize(), false);
  }
}
