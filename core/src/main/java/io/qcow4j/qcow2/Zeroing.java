package io.qcow4j.qcow2;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.L2Entry;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Makes guest ranges read as zeros or as the backing file again: zero flags and subcluster zero
 * bits, discards and unallocation, each a change of one cluster's mapping without data I/O of its
 * own ({@link #remap}); what needs written zeros or new data goes through {@link WritePath}.
 */
final class Zeroing {
  private final WritePath writer;
  private final QcowFile image;
  private final Storage dataStorage;
  private final ClusterLookup lookup;
  private final MetadataFlush metadata;
  private final InFlightIo io;
  private final ReentrantLock metaLock;
  private final Reservations reservations;
  private final int clusterBits;
  private final int clusterSize;
  private final boolean extendedL2;
  private final int unitBits;
  private final boolean hasDataFile;

  Zeroing(WritePath writer, QcowFile image, Storage dataStorage, ClusterLookup lookup, MetadataFlush metadata,
      Header header) {
    this.writer = writer;
    this.image = image;
    this.dataStorage = dataStorage;
    this.lookup = lookup;
    this.metadata = metadata;
    this.io = metadata.io;
    this.metaLock = metadata.metaLock;
    this.reservations = metadata.reservations;
    this.clusterBits = header.clusterBits();
    this.clusterSize = header.clusterSize();
    this.extendedL2 = header.extendedL2();
    this.unitBits = extendedL2 ? clusterBits - 5 : clusterBits;
    this.hasDataFile = header.hasDataFile();
  }

  /** Makes the range read as zeros: zero flags for whole clusters (v3), written zeros elsewhere. */
  void writeZeroes(long offset, long length, boolean unmap) throws IOException {
    boolean zeroFlag = image.header().version() >= 3;
    long end = offset + length;
    long cursor = offset;
    while (cursor < end) {
      long clusterStart = cursor & ~(clusterSize - 1L);
      long clusterEnd = clusterStart + clusterSize;
      long pieceEnd = Math.min(end, clusterEnd);
      boolean wholeCluster = cursor == clusterStart && (pieceEnd == clusterEnd || pieceEnd == image.size());
      if (zeroFlag && (wholeCluster || extendedL2)) {
        zeroUnits(cursor, pieceEnd, unmap);
      } else if (readsAsZeroWithoutData(cursor, pieceEnd - cursor)) {
        // Nothing to do: the part of a cluster already reads as zeros (as QEMU, which allocates nothing there).
      } else {
        writeZeroBytes(cursor, pieceEnd);
      }
      cursor = pieceEnd;
    }
    metadata.flushIfCacheFull();
  }

  private boolean readsAsZeroWithoutData(long guestOffset, long length) throws IOException {
    Run run = image.guarded(() -> lookup.lookup(guestOffset, length));
    return run.length() == length && (run.kind() == L2Entry.Kind.ZERO
        || (run.kind() == L2Entry.Kind.UNALLOCATED && image.backingDisk() == null));
  }

  private void writeZeroBytes(long from, long to) throws IOException {
    writer.write(ByteBuffer.allocate((int) (to - from)), from);
  }

  /**
   * Sets the zero flag (or subcluster zero bits) over [from, to) inside one cluster; subclusters
   * only partly covered get written zeros. With {@code unmap} the host cluster is released when
   * the whole cluster becomes zero.
   */
  private void zeroUnits(long from, long to, boolean unmap) throws IOException {
    long clusterStart = from & ~(clusterSize - 1L);
    int unitSize = 1 << unitBits;
    long firstWhole = (from + unitSize - 1) & ~(unitSize - 1L);
    long lastWholeEnd = to == image.size() ? ((to + unitSize - 1) & ~(unitSize - 1L)) : to & ~(unitSize - 1L);
    if (firstWhole > from) {
      writeZeroBytes(from, Math.min(to, firstWhole));
    }
    if (lastWholeEnd < to && lastWholeEnd >= firstWhole) {
      writeZeroBytes(lastWholeEnd, to);
    }
    if (lastWholeEnd <= firstWhole) {
      return;
    }
    int firstUnit = (int) ((firstWhole - clusterStart) >>> unitBits);
    int endUnit = (int) Math.min(extendedL2 ? L2Entry.SUBCLUSTERS : 1, (lastWholeEnd - clusterStart + unitSize - 1) >>> unitBits);
    long mask = 0;
    for (int unit = firstUnit; unit < endUnit; unit++) {
      mask |= 1L << unit;
    }
    long unitMask = mask;
    remap(clusterStart, (entry, bitmap) -> {
      boolean hasHost = L2Entry.hasHostCluster(entry, hasDataFile);
      if (!extendedL2) {
        boolean release = L2Entry.compressed(entry) || (unmap && hasHost);
        long newEntry = release || !hasHost ? L2Entry.ZERO : (entry & (L2Entry.OFFSET_MASK | L2Entry.COPIED)) | L2Entry.ZERO;
        return new Remap(newEntry, 0, release, clusterStart, clusterSize);
      }
      if (L2Entry.compressed(entry)) {
        return null;
      }
      long newBitmap = (bitmap & ~unitMask) | (unitMask << 32);
      boolean allZero = (newBitmap & 0xffff_ffffL) == 0;
      if (allZero && unmap && hasHost) {
        return new Remap(0, 0xffff_ffffL << 32, true, clusterStart, clusterSize);
      }
      long kept = hasHost ? entry & (L2Entry.OFFSET_MASK | L2Entry.COPIED) : 0;
      return new Remap(kept, newBitmap, false, firstWhole, lastWholeEnd - firstWhole);
    }, () -> zeroCompressedUnits(clusterStart, firstUnit, endUnit));
  }

  /**
   * A compressed cluster cannot be zeroed in part with extended L2: what stays is decompressed into
   * a cluster of its own, with the zeroed units written as zeros.
   */
  private void zeroCompressedUnits(long clusterStart, int firstUnit, int endUnit) throws IOException {
    int unitSize = 1 << unitBits;
    ByteBuffer zeros = ByteBuffer.allocate((endUnit - firstUnit) * unitSize);
    writer.write(zeros, clusterStart + ((long) firstUnit << unitBits));
  }

  /** Deallocates whole clusters (zero clusters where a backing file would show through); zeroes partial ones. */
  void discard(long offset, long length) throws IOException {
    long end = offset + length;
    long cursor = offset;
    boolean hasBacking = image.backingDisk() != null;
    boolean v3 = image.header().version() >= 3;
    while (cursor < end) {
      long clusterStart = cursor & ~(clusterSize - 1L);
      long clusterEnd = clusterStart + clusterSize;
      long pieceEnd = Math.min(end, clusterEnd);
      boolean wholeCluster = cursor == clusterStart && (pieceEnd == clusterEnd || pieceEnd == image.size());
      if (!wholeCluster) {
        writeZeroes(cursor, pieceEnd - cursor, false);
      } else if (hasBacking && !v3) {
        writeZeroBytes(cursor, pieceEnd);
      } else {
        deallocate(clusterStart, hasBacking);
      }
      cursor = pieceEnd;
    }
    metadata.flushIfCacheFull();
  }

  /**
   * Discards one whole cluster as QEMU does: an allocated cluster (any cluster over a backing file)
   * becomes a zero cluster, its host cluster released; on v2 and with extended L2 the zero bits
   * stand in for the zero flag.
   */
  private void deallocate(long clusterStart, boolean hasBacking) throws IOException {
    long newEntry = extendedL2 || image.header().version() < 3 ? 0 : L2Entry.ZERO;
    long newBitmap = extendedL2 ? 0xffff_ffffL << 32 : 0;
    remap(clusterStart, (entry, bitmap) -> {
      boolean hasHost = L2Entry.hasHostCluster(entry, hasDataFile);
      boolean allocated = hasHost || L2Entry.compressed(entry) || extendedL2 && (bitmap & 0xffff_ffffL) != 0;
      if (!allocated && !hasBacking || entry == newEntry && bitmap == newBitmap) {
        // Nothing is allocated and nothing shows through: it already reads as zeros (as in QEMU).
        return Remap.UNCHANGED;
      }
      return new Remap(newEntry, newBitmap, true, clusterStart, clusterSize);
    }, null);
  }

  /**
   * Makes one whole cluster unallocated (entry and subcluster bits cleared), its host cluster
   * released, so that the backing file shows through again: qemu-img commit's "make empty".
   */
  void unallocate(long clusterStart) throws IOException {
    remap(clusterStart, (entry, bitmap) -> entry == 0 && bitmap == 0 ? Remap.UNCHANGED
        : new Remap(0, 0, true, clusterStart, clusterSize), null);
  }

  /**
   * A new mapping for one cluster: its entry and bitmap, whether the old host cluster is released,
   * and the guest range that now reads as zeros (a raw external data file is zeroed there too).
   */
  private record Remap(long entry, long bitmap, boolean release, long zeroFrom, long zeroLength) {
    static final Remap UNCHANGED = new Remap(0, 0, false, 0, 0);
  }

  private interface RemapRule {
    /** The new mapping from the current entry and bitmap; null when {@code fallback} must do it. */
    Remap apply(long entry, long bitmap) throws IOException;
  }

  private interface Fallback {
    void run() throws IOException;
  }

  /**
   * Changes one cluster's mapping without data I/O of its own (zero flags, discards): under the
   * lock once the cluster is not reserved; a raw external data file is zeroed, with the cluster
   * reserved, before the new mapping is stored.
   */
  private void remap(long clusterStart, RemapRule rule, Fallback fallback) throws IOException {
    long clusterIndex = clusterStart >>> clusterBits;
    long epoch = io.enter();
    boolean fallBack = false;
    try {
      Remap remap;
      long[] words;
      metaLock.lock();
      try {
        reservations.await(clusterIndex);
        words = image.guarded(() -> lookup.entryWords(clusterStart));
        remap = image.guarded(() -> rule.apply(words[0], words[1]));
        if (remap == Remap.UNCHANGED) {
          return;
        }
        if (remap == null) {
          fallBack = true;
        } else {
          if (remap.release()) {
            writer.checkRelease(words[0], L2Entry.hasHostCluster(words[0], hasDataFile), -1);
          }
          metadata.markDirty();
          image.guarded(() -> lookup.writableSlot(clusterStart, writer.refcounts()));
          reservations.reserve(clusterIndex, 1);
        }
      } catch (CorruptImageException e) {
        image.markCorrupt();
        throw e;
      } finally {
        metaLock.unlock();
      }
      if (!fallBack) {
        Remap change = remap;
        try {
          zeroRawDataFile(change.zeroFrom(), change.zeroLength());
        } catch (IOException | RuntimeException e) {
          reservations.end(clusterIndex, 1);
          throw e;
        }
        writer.finishMapping(clusterIndex, 1, () -> {
          ClusterLookup.Slot slot = lookup.writableSlot(clusterStart, writer.refcounts());
          lookup.store(slot, change.entry(), change.bitmap());
          boolean hasHost = L2Entry.hasHostCluster(words[0], hasDataFile);
          if (change.release()) {
            writer.releaseOld(words[0], hasHost, -1);
            if (hasDataFile && hasHost) {
              metadata.punchLater(clusterStart);
            }
          }
        });
      }
    } finally {
      io.exit(epoch);
    }
    if (fallBack) {
      fallback.run();
    }
  }

  /**
   * A raw external data file must stay a valid raw image of the disk: ranges that become zeros
   * (by zero flags or deallocation) are zeroed there too.
   */
  private void zeroRawDataFile(long guestOffset, long length) throws IOException {
    if (hasDataFile && image.header().dataFileRaw() && length > 0) {
      dataStorage.zeroRange(guestOffset, Math.max(0, Math.min(length, image.size() - guestOffset)));
    }
  }
}
