package io.qcow4j.qed;

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
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * A new QED image, laid out as QEMU 7.2's qed driver makes and fills one (bdrv_qed_co_create,
 * qed_aio_write_alloc; docs/interop/qed_spec.txt): the header in the first cluster (the backing
 * file's name after it), the L1 table from the second cluster, then data clusters in the order
 * they are first written, each L2 table right after the data clusters of the request that first
 * needed it. The
 * need-check feature is set while written blocks are not yet in the tables on disk, as QEMU sets
 * it during allocating writes, and cleared once they are. Only this object writes the file.
 */
public final class QedTarget extends BlockImageWriter {
  private final long tableBytes;
  private final int entries;
  private final long[] l1;
  private final Map<Integer, long[]> l2 = new HashMap<>();
  private final TreeSet<Integer> dirtyTables = new TreeSet<>();
  private final TreeSet<Integer> unplaced = new TreeSet<>();
  private final long features;
  private final byte[] backingName;
  private final long tableSize;
  private boolean l1Dirty = true;
  private boolean needCheckOnDisk;
  private long fileEnd;

  private QedTarget(Storage storage, Path path, CreateOptions options, long size, byte[] backingName) {
    super(storage, path, size, options.clusterSize());
    this.tableSize = options.qedTableSize();
    this.tableBytes = tableSize * blockSize;
    this.entries = (int) (tableBytes / 8);
    this.l1 = new long[entries];
    this.backingName = backingName;
    long bits = 0;
    if (backingName != null) {
      bits |= QedHeader.FEATURE_BACKING_FILE;
      if (options.backingFormat() == ImageFormat.RAW) {
        bits |= QedHeader.FEATURE_BACKING_FORMAT_NO_PROBE;
      }
    }
    this.features = bits;
    this.fileEnd = blockSize + tableBytes;
  }

  /**
   * Creates the QED image {@code options} describe at {@code path} (replacing any file), ready to
   * be written; the options were checked as qed_co_create checks them.
   */
  public static DiskFile create(Path path, CreateOptions options) throws IOException {
    long tableBytes = (long) options.qedTableSize() * options.clusterSize();
    FormatReads.tableBytes(path.toString(), tableBytes, "L1 table");
    long size = (options.size() + 511) & -512L;
    if (size / options.clusterSize() > Integer.MAX_VALUE) {
      throw new ImageLimitException(path + ": qcow4j writes QED images of at most 2^31 clusters (" + size
          + " bytes in clusters of " + options.clusterSize() + ")");
    }
    byte[] name = options.backingFile() == null ? null
        : options.backingFile().getBytes(StandardCharsets.UTF_8);
    FileStorage storage = FileStorage.create(path, true);
    try {
      QedTarget target = new QedTarget(storage, path, options, size, name);
      if (name != null) {
        storage.write(ByteBuffer.wrap(name), QedHeader.SIZE);
      }
      storage.truncate(target.fileEnd);
      target.flush();
      return target;
    } catch (IOException | RuntimeException e) {
      storage.close();
      throw e;
    }
  }

  @Override
  protected long hostOffsetOf(int blockIndex) {
    long[] table = l2.get(blockIndex / entries);
    return table == null || table[blockIndex % entries] <= 1 ? -1 : table[blockIndex % entries];
  }

  @Override
  protected long allocateBlock(int blockIndex) throws IOException {
    if (!needCheckOnDisk) {
      // as qed_aio_write_alloc: the image needs a check until its tables name this block
      needCheckOnDisk = true;
      writeHeader(true);
    }
    long host = fileEnd;
    fileEnd += blockSize;
    int l1Index = blockIndex / entries;
    long[] table = l2.get(l1Index);
    if (table == null) {
      table = new long[entries];
      l2.put(l1Index, table);
      unplaced.add(l1Index);
    }
    table[blockIndex % entries] = host;
    dirtyTables.add(l1Index);
    return host;
  }

  /** qed_aio_write_l2_update: a new L2 table is placed after the data clusters of the request that needs it. */
  @Override
  protected void allocatedRun() throws IOException {
    for (int l1Index : unplaced) {
      l1[l1Index] = fileEnd;
      fileEnd += tableBytes;
      l1Dirty = true;
    }
    unplaced.clear();
    storage.truncate(fileEnd);
  }

  @Override
  protected void writeMetadata() throws IOException {
    for (int l1Index : dirtyTables) {
      storage.write(table(l2.get(l1Index)), l1[l1Index]);
    }
    dirtyTables.clear();
    if (l1Dirty) {
      storage.write(table(l1), blockSize);
      l1Dirty = false;
    }
    writeHeader(false);
    needCheckOnDisk = false;
  }

  private static ByteBuffer table(long[] offsets) {
    ByteBuffer bytes = ByteBuffer.allocate(offsets.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    bytes.asLongBuffer().put(offsets);
    return bytes;
  }

  private void writeHeader(boolean needCheck) throws IOException {
    ByteBuffer header = ByteBuffer.allocate(QedHeader.SIZE).order(ByteOrder.LITTLE_ENDIAN);
    header.putInt(0, (int) QedHeader.MAGIC);
    header.putInt(4, (int) blockSize);
    header.putInt(8, (int) tableSize);
    header.putInt(12, 1);
    header.putLong(16, features | (needCheck ? QedHeader.FEATURE_NEED_CHECK : 0));
    header.putLong(40, blockSize);
    header.putLong(48, size());
    if (backingName != null) {
      header.putInt(56, QedHeader.SIZE);
      header.putInt(60, backingName.length);
    }
    storage.write(header, 0);
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.QED;
  }
}
