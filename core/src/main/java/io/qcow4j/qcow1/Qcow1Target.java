package io.qcow4j.qcow1;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.internal.formats.BlockImageWriter;
import io.qcow4j.internal.formats.FormatReads;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * A new qcow (version 1) image, laid out as QEMU 7.2's qcow driver makes and fills one
 * (qcow_co_create, get_cluster_offset): the 48-byte header and the backing file's name, the L1
 * table from the next 8-byte boundary (zeroed in whole sectors), then, in the order guest clusters
 * are first written, an L2 table at the cluster-aligned end of the file when the cluster's L1
 * entry has none, and the data cluster at the cluster-aligned end after it. Clusters are 4 KiB
 * with 4 KiB L2 tables, or 512 bytes with 32 KiB tables under a backing file (so that no write
 * covers part of a cluster). Only this object writes the file.
 */
public final class Qcow1Target extends BlockImageWriter {
  private final int clusterBits;
  private final int l2Bits;
  private final long l1Offset;
  private final long[] l1;
  private final Map<Integer, long[]> l2 = new HashMap<>();
  private final TreeSet<Integer> dirtyTables = new TreeSet<>();
  private final byte[] backingName;
  private boolean l1Dirty = true;
  private long fileEnd;

  private Qcow1Target(Storage storage, Path path, long size, byte[] backingName, long l1Entries, int clusterBits,
      int l2Bits) {
    super(storage, path, size, 1L << clusterBits);
    this.clusterBits = clusterBits;
    this.l2Bits = l2Bits;
    this.backingName = backingName;
    long headerSize = (Qcow1Header.SIZE + (backingName == null ? 0 : backingName.length) + 7) & ~7L;
    this.l1Offset = headerSize;
    this.l1 = new long[(int) l1Entries];
    this.fileEnd = headerSize + ((l1Entries * 8 + 511) & ~511L);
  }

  /**
   * Creates the qcow image {@code options} describe at {@code path} (replacing any file), ready to
   * be written; the options were checked as qcow_co_create checks them (encryption refused).
   */
  public static DiskFile create(Path path, CreateOptions options) throws IOException {
    long size = (options.size() + 511) & -512L;
    boolean backing = options.backingFile() != null;
    int clusterBits = backing ? 9 : 12;
    int l2Bits = backing ? 12 : 9;
    long l1Entries = (size + (1L << (clusterBits + l2Bits)) - 1) >>> (clusterBits + l2Bits);
    FormatReads.tableBytes(path.toString(), l1Entries * 8, "L1 table");
    if ((size >>> clusterBits) > Integer.MAX_VALUE) {
      throw new ImageLimitException(path + ": qcow4j writes qcow images of at most 2^31 clusters (" + size
          + " bytes in clusters of " + (1 << clusterBits) + ")");
    }
    byte[] name = backing ? options.backingFile().getBytes(StandardCharsets.UTF_8) : null;
    FileStorage storage = FileStorage.create(path, true);
    try {
      Qcow1Target target = new Qcow1Target(storage, path, size, name, l1Entries, clusterBits, l2Bits);
      if (name != null) {
        storage.write(ByteBuffer.wrap(name), Qcow1Header.SIZE);
      }
      storage.truncate(target.fileEnd);
      target.flush();
      return target;
    } catch (IOException | RuntimeException e) {
      storage.close();
      throw e;
    }
  }

  private long clusterAligned(long offset) {
    long mask = (1L << clusterBits) - 1;
    return (offset + mask) & ~mask;
  }

  @Override
  protected long hostOffsetOf(int blockIndex) {
    long[] table = l2.get(blockIndex >>> l2Bits);
    return table == null || table[blockIndex & ((1 << l2Bits) - 1)] == 0 ? -1
        : table[blockIndex & ((1 << l2Bits) - 1)];
  }

  @Override
  protected long allocateBlock(int blockIndex) throws IOException {
    int l1Index = blockIndex >>> l2Bits;
    long[] table = l2.get(l1Index);
    if (table == null) {
      table = new long[1 << l2Bits];
      l2.put(l1Index, table);
      l1[l1Index] = clusterAligned(fileEnd);
      fileEnd = l1[l1Index] + table.length * 8L;
      l1Dirty = true;
    }
    long host = clusterAligned(fileEnd);
    fileEnd = host + blockSize;
    table[blockIndex & ((1 << l2Bits) - 1)] = host;
    dirtyTables.add(l1Index);
    storage.truncate(fileEnd);
    return host;
  }

  @Override
  protected void writeMetadata() throws IOException {
    for (int l1Index : dirtyTables) {
      storage.write(table(l2.get(l1Index)), l1[l1Index]);
    }
    dirtyTables.clear();
    if (l1Dirty) {
      storage.write(table(l1), l1Offset);
      l1Dirty = false;
    }
    ByteBuffer header = ByteBuffer.allocate(Qcow1Header.SIZE);
    header.putInt(0, (int) Qcow1Header.MAGIC);
    header.putInt(4, 1);
    if (backingName != null) {
      header.putLong(8, Qcow1Header.SIZE);
      header.putInt(16, backingName.length);
    }
    header.putLong(24, size());
    header.put(32, (byte) clusterBits);
    header.put(33, (byte) l2Bits);
    header.putLong(40, l1Offset);
    storage.write(header, 0);
  }

  private static ByteBuffer table(long[] offsets) {
    ByteBuffer bytes = ByteBuffer.allocate(offsets.length * 8);
    bytes.asLongBuffer().put(offsets);
    return bytes;
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.QCOW;
  }
}
