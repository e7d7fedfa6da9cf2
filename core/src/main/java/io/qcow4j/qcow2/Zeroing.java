package io.qcow4j.qcow2;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.Extent;
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
  /** The allocation half and the zero half of an extended L2 bitmap. */
  private static final long ALLOCATED_BITS = 0xffff_ffffL;
  private static final long ZERO_BITS = 0xffff_ffffL << 32;

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

  /**
   * Makes the range read as zeros as QEMU's block layer and qcow2 driver do: the range is cut at
   * unit (subcluster) boundaries; a partial unit at either end is zeroed whole when the rest of it
   * reads as zeros already and it holds no data of this layer, else zero bytes are written; whole
   * units get zero flags (v3) or are discarded (v2 without a backing file, which has no zero flag
   * and nothing to show through); v2 with a backing file writes zero bytes.
   */
  void writeZeroes(long offset, long length, boolean unmap) throws IOException {
    long unitSize = 1L << unitBits;
    long end = offset + length;
    long cursor = offset;
    while (cursor < end) {
      long pieceEnd;
      if ((cursor & (unitSize - 1)) != 0) {
        pieceEnd = Math.min(end, (cursor | (unitSize - 1)) + 1);
      } else if (end - cursor > unitSize && (end & (unitSize - 1)) != 0) {
        pieceEnd = end & ~(unitSize - 1);
      } else {
        pieceEnd = end;
      }
      zeroPiece(cursor, pieceEnd, unmap);
      cursor = pieceEnd;
    }
    metadata.flushIfCacheFull();
  }

  /** One piece of {@link #writeZeroes}: inside one unit, or whole units (qcow2_co_pwrite_zeroes). */
  private void zeroPiece(long from, long to, boolean unmap) throws IOException {
    long unitSize = 1L << unitBits;
    long size = image.size();
    long head = from & (unitSize - 1);
    long tail = to == size ? 0 : -to & (unitSize - 1);
    Fallback writeBytes = () -> writeZeroBytes(from, to);
    if (head == 0 && tail == 0) {
      zeroize(from, to, unmap, false, writeBytes);
      return;
    }
    long unitStart = from - head;
    long unitEnd = Math.min(size, unitStart + unitSize);
    if (!readsAsZero(unitStart, head) || !readsAsZero(to, unitEnd - to) || holdsData(unitStart, unitEnd)) {
      writeBytes.run();
      return;
    }
    zeroize(unitStart, unitEnd, unmap, true, writeBytes);
  }

  /** Whether [offset, offset + length) reads as zeros through the chain (QEMU's is_zero). */
  private boolean readsAsZero(long offset, long length) throws IOException {
    long end = Math.min(offset + length, image.size());
    long cursor = offset;
    while (cursor < end) {
      Extent extent = image.blockStatus(cursor, end - cursor);
      if (!extent.zero() || extent.length() <= 0) {
        return false;
      }
      cursor = extent.end();
    }
    return true;
  }

  /** Whether this layer maps data (or a compressed cluster) over any unit of the range in one cluster. */
  private boolean holdsData(long from, long to) throws IOException {
    long cursor = from;
    while (cursor < to) {
      long at = cursor;
      Run run = image.guarded(() -> lookup.lookup(at, to - at));
      if (run.kind() == L2Entry.Kind.DATA || run.kind() == L2Entry.Kind.COMPRESSED || run.length() <= 0) {
        return true;
      }
      cursor = run.guestEnd();
    }
    return false;
  }

  private void writeZeroBytes(long from, long to) throws IOException {
    writer.write(ByteBuffer.allocate((int) (to - from)), from);
  }

  /**
   * Zeroes whole units [from, to) without writing data (qcow2_subcluster_zeroize), or runs
   * {@code fallback} where qcow2 cannot: v2 with a backing file, a compressed cluster in part, or
   * ({@code noData}) a unit that got data since it was checked.
   */
  private void zeroize(long from, long to, boolean unmap, boolean noData, Fallback fallback) throws IOException {
    if (image.header().version() < 3) {
      if (image.backingDisk() != null) {
        fallback.run();
        return;
      }
      for (long cluster = from; cluster < to; cluster += clusterSize) {
        if (deallocate(cluster, false, noData, fallback)) {
          return;
        }
      }
      return;
    }
    long cursor = from;
    while (cursor < to) {
      long clusterStart = cursor & ~(clusterSize - 1L);
      long pieceEnd = Math.min(to, clusterStart + clusterSize);
      boolean wholeCluster = cursor == clusterStart
          && (pieceEnd == clusterStart + clusterSize || pieceEnd == image.size());
      // a cluster qcow2 cannot zero fails the whole request, which the fallback then writes as
      // zero bytes (QEMU's ENOTSUP from qcow2_subcluster_zeroize): nothing after it is zeroed
      boolean fellBack = wholeCluster ? zeroCluster(clusterStart, unmap, noData, fallback)
          : zeroSubclusters(cursor, pieceEnd, noData, fallback);
      if (fellBack) {
        return;
      }
      cursor = pieceEnd;
    }
  }

  /**
   * Sets the zero flag (or every subcluster zero bit) of one whole cluster (zero_in_l2_slice); with
   * {@code unmap} an allocated host cluster is released, and a compressed one always is.
   */
  private boolean zeroCluster(long clusterStart, boolean unmap, boolean noData, Fallback fallback)
      throws IOException {
    return remap(clusterStart, (entry, bitmap) -> {
      boolean hasHost = L2Entry.hasHostCluster(entry, hasDataFile);
      boolean compressed = L2Entry.compressed(entry);
      if (noData && (compressed || (extendedL2 ? (bitmap & ALLOCATED_BITS) != 0
          : L2Entry.kind(entry, hasDataFile) == L2Entry.Kind.DATA))) {
        return null;
      }
      boolean release = compressed || (unmap && hasHost);
      long kept = release ? 0 : entry;
      long newEntry = extendedL2 ? kept : kept | L2Entry.ZERO;
      long newBitmap = extendedL2 ? ZERO_BITS : 0;
      if (newEntry == entry && newBitmap == bitmap) {
        return Remap.UNCHANGED;
      }
      return new Remap(newEntry, newBitmap, release, clusterStart, clusterSize);
    }, fallback);
  }

  /**
   * Sets the zero bits of the subclusters [from, to) of one cluster with extended L2
   * (zero_l2_subclusters); a compressed cluster cannot be zeroed in part.
   */
  private boolean zeroSubclusters(long from, long to, boolean noData, Fallback fallback) throws IOException {
    long clusterStart = from & ~(clusterSize - 1L);
    int firstUnit = (int) ((from - clusterStart) >>> unitBits);
    int endUnit = (int) ((to - clusterStart + (1L << unitBits) - 1) >>> unitBits);
    long mask = 0;
    for (int unit = firstUnit; unit < endUnit; unit++) {
      mask |= 1L << unit;
    }
    long unitMask = mask;
    return remap(clusterStart, (entry, bitmap) -> {
      if (L2Entry.compressed(entry) || noData && (bitmap & unitMask) != 0) {
        return null;
      }
      long newBitmap = (bitmap & ~unitMask) | (unitMask << 32);
      if (newBitmap == bitmap) {
        return Remap.UNCHANGED;
      }
      return new Remap(entry, newBitmap, false, from, to - from);
    }, fallback);
  }

  /**
   * Discards as QEMU's qcow2 driver does (qcow2_co_pdiscard): only whole clusters (and a partial
   * last cluster of the disk from its start), partial ones stay as they are; nothing at all on a
   * version 2 image with a backing file, where a discarded cluster could only show the backing file.
   */
  void discard(long offset, long length) throws IOException {
    boolean hasBacking = image.backingDisk() != null;
    if (hasBacking && image.header().version() < 3) {
      return;
    }
    long end = offset + length;
    long first = (offset + clusterSize - 1) & ~(clusterSize - 1L);
    long stop = end == image.size() ? end : end & ~(clusterSize - 1L);
    for (long cluster = first; cluster < stop; cluster += clusterSize) {
      deallocate(cluster, hasBacking, false, null);
    }
    metadata.flushIfCacheFull();
  }

  /**
   * Discards one whole cluster as QEMU does (discard_in_l2_slice): an allocated cluster (any cluster
   * over a backing file) becomes a zero cluster, its host cluster released; on v2 (no backing file)
   * it becomes unallocated, and with extended L2 the zero bits stand in for the zero flag. With
   * {@code noData}, an allocated cluster runs {@code fallback} instead.
   */
  private boolean deallocate(long clusterStart, boolean hasBacking, boolean noData, Fallback fallback)
      throws IOException {
    long newEntry = extendedL2 || image.header().version() < 3 ? 0 : L2Entry.ZERO;
    long newBitmap = extendedL2 ? ZERO_BITS : 0;
    return remap(clusterStart, (entry, bitmap) -> {
      boolean hasHost = L2Entry.hasHostCluster(entry, hasDataFile);
      boolean allocated = hasHost || L2Entry.compressed(entry) || extendedL2 && (bitmap & ALLOCATED_BITS) != 0;
      if (noData && allocated) {
        return null;
      }
      if (!allocated && !hasBacking || entry == newEntry && bitmap == newBitmap) {
        // Nothing is allocated and nothing shows through: it already reads as zeros (as in QEMU).
        return Remap.UNCHANGED;
      }
      return new Remap(newEntry, newBitmap, true, clusterStart, clusterSize);
    }, fallback);
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
  private boolean remap(long clusterStart, RemapRule rule, Fallback fallback) throws IOException {
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
          // QEMU takes the cluster's L2 table for writing before it looks at the entry
          // (get_cluster_table): an absent or shared table is allocated even when nothing changes.
          metadata.markDirty();
          image.guarded(() -> lookup.writableSlot(clusterStart, writer.refcounts()));
          return false;
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
        throw image.signalCorruption(e);
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
    return fallBack;
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
