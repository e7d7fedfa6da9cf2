package io.qcow4j.qcow2;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.qcow2.format.CompressedDescriptor;
import io.qcow4j.qcow2.format.Features;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.L2Entry;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The write side of a qcow2 image: in-place writes to clusters it owns, allocation and
 * copy-on-write of the others, zeroing and discarding, and the ordered flush of metadata.
 *
 * <p>Locking: every data I/O holds the shared side of {@code ioLock}, so that concurrent reads and
 * writes never wait for each other; the exclusive side only drains in-flight I/O before freed
 * clusters are released. Every metadata change holds {@code metaLock}.
 */
final class WritePath {
  private final QcowFile image;
  private final String name;
  private final Storage storage;
  private final Storage dataStorage;
  private final ClusterLookup lookup;
  private volatile Refcounts refcounts;
  private final int clusterBits;
  private final int clusterSize;
  private final boolean extendedL2;
  private final int unitBits;
  private final boolean hasDataFile;
  final ReentrantReadWriteLock ioLock = new ReentrantReadWriteLock();
  final ReentrantLock metaLock = new ReentrantLock();
  /** Guest clusters whose copy-on-write is in flight without the metadata lock; guarded by it. */
  private final java.util.Set<Long> inFlight = new java.util.HashSet<>();
  private final java.util.concurrent.locks.Condition inFlightDone = metaLock.newCondition();
  private boolean dirtyBitSet;

  WritePath(QcowFile image, Storage storage, Storage dataStorage, ClusterLookup lookup, Refcounts refcounts,
      Header header) {
    this.image = image;
    this.name = storage.name();
    this.storage = storage;
    this.dataStorage = dataStorage;
    this.lookup = lookup;
    this.refcounts = refcounts;
    this.clusterBits = header.clusterBits();
    this.clusterSize = header.clusterSize();
    this.extendedL2 = header.extendedL2();
    this.unitBits = extendedL2 ? clusterBits - 5 : clusterBits;
    this.hasDataFile = header.hasDataFile();
  }

  // ---------------------------------------------------------------- writes

  /** Writes all of {@code src} at {@code position} (inside the disk). */
  void write(ByteBuffer src, long position) throws IOException {
    releaseFreedBeforeGrowing();
    ioLock.readLock().lock();
    try {
      long cursor = position;
      while (src.hasRemaining()) {
        Run run;
        try {
          run = lookup.lookup(cursor, src.remaining());
        } catch (CorruptImageException e) {
          image.markCorrupt();
          throw e;
        }
        int length;
        if (run.kind() == L2Entry.Kind.DATA && L2Entry.copied(run.entry())) {
          length = (int) run.length();
          dataStorage.write(src.slice(src.position(), length), run.hostOffset());
        } else if ((cursor & (clusterSize - 1)) == 0 && src.remaining() >= clusterSize) {
          metaLock.lock();
          try {
            length = writeWholeClusters(src.slice(src.position(), src.remaining()), cursor);
          } finally {
            metaLock.unlock();
          }
        } else {
          long clusterEnd = (cursor | (clusterSize - 1)) + 1;
          length = (int) Math.min(src.remaining(), clusterEnd - cursor);
          ByteBuffer piece = src.slice(src.position(), length);
          metaLock.lock();
          try {
            writeCluster(piece, cursor);
          } finally {
            metaLock.unlock();
          }
        }
        src.position(src.position() + length);
        cursor += length;
      }
    } finally {
      ioLock.readLock().unlock();
    }
    flushIfCacheFull();
  }

  /**
   * Writes whole clusters from {@code data} at cluster-aligned {@code guestOffset}: the leading run
   * of clusters that cannot be written in place gets fresh contiguous host clusters and one write.
   * Returns the bytes written (at least one cluster).
   */
  private int writeWholeClusters(ByteBuffer data, long guestOffset) throws IOException {
    int[] written = new int[1];
    guardCorruption(() -> {
      int maxClusters = data.remaining() >>> clusterBits;
      long bytesPerTable = lookup.bytesPerL2Table();
      // Stay within one L2 table so the entries' slots are found once each.
      long tableEnd = (guestOffset / bytesPerTable + 1) * bytesPerTable;
      maxClusters = (int) Math.min(maxClusters, (tableEnd - guestOffset) >>> clusterBits);
      long[] oldEntries = new long[maxClusters];
      int count = 0;
      boolean inPlace = false;
      awaitCluster(guestOffset >>> clusterBits);
      while (count < maxClusters) {
        if (count > 0 && inFlight.contains((guestOffset >>> clusterBits) + count)) {
          break;
        }
        long entry = lookup.entryWords(guestOffset + ((long) count << clusterBits))[0];
        boolean ownsHost = L2Entry.hasHostCluster(entry, hasDataFile) && L2Entry.copied(entry)
            && !L2Entry.compressed(entry);
        if (ownsHost) {
          // A cluster with a host cluster of its own is rewritten in place, alone.
          if (count == 0) {
            oldEntries[count++] = entry;
            inPlace = true;
          }
          break;
        }
        oldEntries[count++] = entry;
      }
      markDirty();
      lookup.writableSlot(guestOffset, refcounts);
      if (!inPlace && !hasDataFile) {
        // Freed clusters are reused first, as far as they run contiguously.
        count = Math.min(count, refcounts.freeRunLength(count));
      }
      long target = inPlace ? L2Entry.hostOffset(oldEntries[0])
          : hasDataFile ? guestOffset : refcounts.allocate(count);
      int length = count << clusterBits;
      dataStorage.write(data.slice(0, length), target);
      for (int index = 0; index < count; index++) {
        long guest = guestOffset + ((long) index << clusterBits);
        long host = target + ((long) index << clusterBits);
        ClusterLookup.Slot slot = lookup.writableSlot(guest, refcounts);
        long entry = hasDataFile && host == 0 ? L2Entry.COPIED : L2Entry.data(host, true);
        lookup.store(slot, entry, extendedL2 ? 0xffff_ffffL : 0);
        releaseOld(oldEntries[index], L2Entry.hasHostCluster(oldEntries[index], hasDataFile), host);
      }
      written[0] = length;
      return null;
    });
    return written[0];
  }

  /**
   * Writes {@code data} (inside one cluster) at {@code guestOffset} where the cluster cannot be
   * written in place: the cluster (or, with extended L2, the subclusters written) gets a host
   * cluster of its own, filled with what it read as before around the new bytes.
   */
  private void writeCluster(ByteBuffer data, long guestOffset) throws IOException {
    guardCorruption(() -> {
      long clusterStart = guestOffset & ~(clusterSize - 1L);
      long clusterIndex = clusterStart >>> clusterBits;
      awaitCluster(clusterIndex);
      long[] words = lookup.entryWords(clusterStart);
      long entry = words[0];
      boolean hasHost = L2Entry.hasHostCluster(entry, hasDataFile);
      boolean ownHost = hasHost && L2Entry.copied(entry);
      markDirty();
      lookup.writableSlot(clusterStart, refcounts);
      long target = ownHost ? L2Entry.hostOffset(entry) : allocateDataCluster(clusterStart);
      // The data I/O runs without the metadata lock; the cluster stays reserved meanwhile.
      inFlight.add(clusterIndex);
      metaLock.unlock();
      long newBitmap;
      try {
        newBitmap = fillCluster(data, guestOffset, clusterStart, entry, words[1], hasHost, target);
      } finally {
        metaLock.lock();
        inFlight.remove(clusterIndex);
        inFlightDone.signalAll();
      }
      // Looked up again: the slice may have left the cache while the lock was released.
      ClusterLookup.Slot slot = lookup.writableSlot(clusterStart, refcounts);
      long newEntry = hasDataFile && target == 0 ? L2Entry.COPIED : L2Entry.data(target, true);
      lookup.store(slot, newEntry, extendedL2 ? newBitmap : 0);
      releaseOld(entry, hasHost, target);
      return null;
    });
  }

  /**
   * Writes the new bytes into host cluster {@code target}, with what the cluster read as before
   * around them where the target does not hold it yet; returns the cluster's new subcluster bitmap
   * (allocation bits low, zero bits high).
   */
  private long fillCluster(ByteBuffer data, long guestOffset, long clusterStart, long entry, long bitmap,
      boolean hasHost, long target) throws IOException {
    boolean compressed = L2Entry.compressed(entry);
    int units = extendedL2 ? L2Entry.SUBCLUSTERS : 1;
    int unitSize = 1 << unitBits;
    int firstTouched = (int) ((guestOffset - clusterStart) >>> unitBits);
    int lastTouched = (int) ((guestOffset + data.remaining() - 1 - clusterStart) >>> unitBits);
    long newAllocated = 0;
    long newZero = 0;
    boolean fresh = target != hostOrMinusOne(entry, hasHost);
    ByteBuffer out = ByteBuffer.allocate(clusterSize);
    // Byte ranges of the cluster to write, in order; adjacent ones are merged into one write.
    int[] ranges = new int[2 * units];
    int rangeCount = 0;
    for (int unit = 0; unit < units; unit++) {
      L2Entry.Kind kind = compressed ? L2Entry.Kind.COMPRESSED : unitKind(entry, bitmap, unit);
      long unitGuest = clusterStart + ((long) unit << unitBits);
      boolean touched = unit >= firstTouched && unit <= lastTouched;
      boolean copyOld = !touched && fresh && (kind == L2Entry.Kind.DATA || kind == L2Entry.Kind.COMPRESSED);
      if (!touched && !copyOld) {
        if (kind == L2Entry.Kind.DATA) {
          newAllocated |= 1L << unit;
        } else if (kind == L2Entry.Kind.ZERO) {
          newZero |= 1L << unit;
        }
        continue;
      }
      int unitStart = unit * unitSize;
      ByteBuffer unitBuffer = out.slice(unitStart, unitSize);
      long dataStart = Math.max(unitGuest, guestOffset);
      long dataEnd = Math.min(unitGuest + unitSize, guestOffset + data.remaining());
      boolean covered = touched && dataStart == unitGuest && dataEnd == unitGuest + unitSize;
      int from = unitStart;
      int to = unitStart + unitSize;
      if (!covered) {
        if (kind == L2Entry.Kind.DATA && !fresh) {
          // The unit's data is already here: write only the new bytes. Rewriting the rest would
          // race with writers that write into this unit in place, without any lock.
          from = (int) (dataStart - clusterStart);
          to = (int) (dataEnd - clusterStart);
        } else if (fresh && touched && !hasDataFile && readsZero(kind, unitGuest)) {
          // A fresh host cluster already reads as zeros (an external data file's need not).
          from = (int) (dataStart - clusterStart);
          to = (int) (dataEnd - clusterStart);
        } else {
          image.readLayer(unitBuffer.duplicate(), unitGuest);
        }
      }
      if (touched) {
        unitBuffer.put((int) (dataStart - unitGuest), data, (int) (dataStart - guestOffset),
            (int) (dataEnd - dataStart));
      }
      newAllocated |= 1L << unit;
      if (rangeCount > 0 && ranges[2 * rangeCount - 1] == from) {
        ranges[2 * rangeCount - 1] = to;
      } else {
        ranges[2 * rangeCount] = from;
        ranges[2 * rangeCount + 1] = to;
        rangeCount++;
      }
    }
    for (int range = 0; range < rangeCount; range++) {
      int from = ranges[2 * range];
      int to = ranges[2 * range + 1];
      dataStorage.write(out.slice(from, to - from), target + from);
    }
    return newAllocated | (newZero << 32);
  }

  /** Waits (releasing the metadata lock) until no copy-on-write of the cluster is in flight. */
  private void awaitCluster(long clusterIndex) {
    while (inFlight.contains(clusterIndex)) {
      inFlightDone.awaitUninterruptibly();
    }
  }

  /**
   * Whether a unit of this kind reads as zeros without any host data: a zero unit, or an
   * unallocated one with no backing file below it.
   */
  private boolean readsZero(L2Entry.Kind kind, long unitGuest) throws IOException {
    if (kind == L2Entry.Kind.ZERO) {
      return true;
    }
    if (kind != L2Entry.Kind.UNALLOCATED) {
      return false;
    }
    io.qcow4j.disk.DiskFile backing = image.backingDisk();
    return backing == null || unitGuest >= backing.size();
  }

  private static long hostOrMinusOne(long entry, boolean hasHost) {
    return hasHost ? L2Entry.hostOffset(entry) : -1;
  }

  private L2Entry.Kind unitKind(long entry, long bitmap, int unit) throws CorruptImageException {
    if (!extendedL2) {
      return L2Entry.kind(entry, hasDataFile);
    }
    L2Entry.Kind kind = L2Entry.subclusterKind(bitmap, unit);
    if (kind == null) {
      throw new CorruptImageException(name + ": L2 entry has subcluster " + unit + " marked both allocated and zero");
    }
    return kind;
  }

  /** A host cluster for guest data: a fresh refcounted one, or the guest offset in an external data file. */
  private long allocateDataCluster(long clusterStart) throws IOException {
    if (hasDataFile) {
      return clusterStart;
    }
    return refcounts.allocate(1);
  }

  /** Drops the reference an entry held when its cluster moved elsewhere or went away. */
  private void releaseOld(long oldEntry, boolean hadHost, long newTarget) throws IOException {
    if (L2Entry.compressed(oldEntry)) {
      CompressedDescriptor descriptor = CompressedDescriptor.decode(oldEntry, clusterBits);
      long start = descriptor.hostOffset() & ~511L;
      refcounts.freeLater(start, (descriptor.additionalSectors() + 1L) * 512);
    } else if (hadHost && L2Entry.hostOffset(oldEntry) != newTarget && !hasDataFile) {
      refcounts.freeLater(L2Entry.hostOffset(oldEntry), clusterSize);
    }
  }

  // ---------------------------------------------------------------- compressed clusters

  /** Where the next compressed cluster's bytes go: packed after the previous one, as QEMU packs them. */
  private long compressedCursor;

  /**
   * Stores {@code compressed} (one cluster's compressed bytes) as the content of the cluster at
   * {@code guestOffset}, which must be unallocated or zero. Host clusters that the bytes touch gain
   * one reference each.
   */
  void writeCompressed(long guestOffset, byte[] compressed) throws IOException {
    if (hasDataFile) {
      throw new io.qcow4j.disk.UnsupportedFeatureException(name + ": compressed clusters cannot go to an external data file");
    }
    ioLock.readLock().lock();
    metaLock.lock();
    try {
      guardCorruption(() -> {
        long clusterStart = guestOffset & ~(clusterSize - 1L);
        awaitCluster(clusterStart >>> clusterBits);
        long[] words = lookup.entryWords(clusterStart);
        markDirty();
        ClusterLookup.Slot slot = lookup.writableSlot(clusterStart, refcounts);
        long length = compressed.length;
        long start = compressedCursor;
        boolean packed = false;
        if ((start & (clusterSize - 1)) != 0) {
          long clusterEnd = (start | (clusterSize - 1)) + 1;
          long room = clusterEnd - start;
          if (length <= room) {
            refcounts.adjust(start, length, 1);
            packed = true;
          } else if (refcounts.frontierOffset() == clusterEnd) {
            refcounts.adjust(start, room, 1);
            refcounts.allocateAtFrontier((int) ((length - room + clusterSize - 1) >>> clusterBits));
            packed = true;
          }
        }
        if (!packed) {
          start = refcounts.allocateAtFrontier((int) ((length + clusterSize - 1) >>> clusterBits));
        }
        storage.write(ByteBuffer.wrap(compressed), start);
        compressedCursor = start + length;
        lookup.store(slot, CompressedDescriptor.of(start, length).encode(clusterBits), 0);
        boolean hasHost = L2Entry.hasHostCluster(words[0], hasDataFile);
        releaseOld(words[0], hasHost, -1);
        return null;
      });
    } finally {
      metaLock.unlock();
      ioLock.readLock().unlock();
    }
  }

  // ---------------------------------------------------------------- zeroes and discard

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
    flushIfCacheFull();
  }

  private boolean readsAsZeroWithoutData(long guestOffset, long length) throws IOException {
    Run run = lookup.lookup(guestOffset, length);
    return run.length() == length && (run.kind() == L2Entry.Kind.ZERO
        || (run.kind() == L2Entry.Kind.UNALLOCATED && image.backingDisk() == null));
  }

  private void writeZeroBytes(long from, long to) throws IOException {
    write(ByteBuffer.allocate((int) (to - from)), from);
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
    ioLock.readLock().lock();
    metaLock.lock();
    try {
      guardCorruption(() -> {
        awaitCluster(clusterStart >>> clusterBits);
        long[] words = lookup.entryWords(clusterStart);
        long entry = words[0];
        long bitmap = words[1];
        markDirty();
        ClusterLookup.Slot slot = lookup.writableSlot(clusterStart, refcounts);
        boolean hasHost = L2Entry.hasHostCluster(entry, hasDataFile);
        if (!extendedL2) {
          zeroRawDataFile(clusterStart, clusterSize);
          boolean release = L2Entry.compressed(entry) || (unmap && hasHost);
          long newEntry = release || !hasHost ? L2Entry.ZERO : (entry & (L2Entry.OFFSET_MASK | L2Entry.COPIED)) | L2Entry.ZERO;
          lookup.store(slot, newEntry, 0);
          if (release) {
            releaseOld(entry, hasHost, -1);
            discardDataFileCluster(entry, hasHost);
          }
          return null;
        }
        int firstUnit = (int) ((firstWhole - clusterStart) >>> unitBits);
        int endUnit = (int) Math.min(L2Entry.SUBCLUSTERS, (lastWholeEnd - clusterStart) >>> unitBits);
        long mask = 0;
        for (int unit = firstUnit; unit < endUnit; unit++) {
          mask |= 1L << unit;
        }
        if (L2Entry.compressed(entry)) {
          // A compressed cluster cannot be zeroed in part: decompress what stays into a cluster of its own.
          ByteBuffer cluster = ByteBuffer.allocate(clusterSize);
          image.readLayer(cluster.duplicate(), clusterStart);
          for (int unit = firstUnit; unit < endUnit; unit++) {
            cluster.put(unit << unitBits, new byte[unitSize]);
          }
          long target = allocateDataCluster(clusterStart);
          dataStorage.write(cluster, target);
          long allocated = 0xffff_ffffL & ~mask;
          lookup.store(slot, L2Entry.data(target, true), allocated | (mask << 32));
          releaseOld(entry, false, target);
          return null;
        }
        zeroRawDataFile(firstWhole, lastWholeEnd - firstWhole);
        long newBitmap = (bitmap & ~mask) | (mask << 32);
        boolean allZero = (newBitmap & 0xffff_ffffL) == 0;
        if (allZero && unmap && hasHost) {
          lookup.store(slot, 0, 0xffff_ffffL << 32);
          releaseOld(entry, true, -1);
          discardDataFileCluster(entry, true);
        } else {
          lookup.store(slot, hasHost ? entry & (L2Entry.OFFSET_MASK | L2Entry.COPIED) : 0, newBitmap);
        }
        return null;
      });
    } finally {
      metaLock.unlock();
      ioLock.readLock().unlock();
    }
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
    flushIfCacheFull();
  }

  /**
   * Discards one whole cluster as QEMU does: an allocated cluster (any cluster over a backing file)
   * becomes a zero cluster, its host cluster released; on v2 and with extended L2 the zero bits
   * stand in for the zero flag.
   */
  void deallocate(long clusterStart, boolean hasBacking) throws IOException {
    ioLock.readLock().lock();
    metaLock.lock();
    try {
      guardCorruption(() -> {
        awaitCluster(clusterStart >>> clusterBits);
        long[] words = lookup.entryWords(clusterStart);
        long entry = words[0];
        boolean hasHost = L2Entry.hasHostCluster(entry, hasDataFile);
        boolean allocated = hasHost || L2Entry.compressed(entry)
            || extendedL2 && (words[1] & 0xffff_ffffL) != 0;
        if (!allocated && !hasBacking) {
          // Nothing is allocated and nothing shows through: it already reads as zeros (as in QEMU).
          return null;
        }
        // As QEMU: the cluster becomes a zero cluster, so it reads as zeros whatever lies below.
        long newEntry = extendedL2 || image.header().version() < 3 ? 0 : L2Entry.ZERO;
        long newBitmap = extendedL2 ? 0xffff_ffffL << 32 : 0;
        if (entry == newEntry && words[1] == newBitmap) {
          return null;
        }
        markDirty();
        ClusterLookup.Slot slot = lookup.writableSlot(clusterStart, refcounts);
        lookup.store(slot, newEntry, newBitmap);
        releaseOld(entry, hasHost, -1);
        discardDataFileCluster(entry, hasHost);
        zeroRawDataFile(clusterStart, clusterSize);
        return null;
      });
    } finally {
      metaLock.unlock();
      ioLock.readLock().unlock();
    }
  }

  /**
   * Makes one whole cluster unallocated (entry and subcluster bits cleared), its host cluster
   * released, so that the backing file shows through again: qemu-img commit's "make empty".
   */
  void unallocate(long clusterStart) throws IOException {
    ioLock.readLock().lock();
    metaLock.lock();
    try {
      guardCorruption(() -> {
        awaitCluster(clusterStart >>> clusterBits);
        long[] words = lookup.entryWords(clusterStart);
        long entry = words[0];
        if (entry == 0 && words[1] == 0) {
          return null;
        }
        boolean hasHost = L2Entry.hasHostCluster(entry, hasDataFile);
        markDirty();
        ClusterLookup.Slot slot = lookup.writableSlot(clusterStart, refcounts);
        lookup.store(slot, 0, 0);
        releaseOld(entry, hasHost, -1);
        discardDataFileCluster(entry, hasHost);
        // a raw data file keeps reading as the disk, which now reads zeros here (it has no backing file)
        zeroRawDataFile(clusterStart, clusterSize);
        return null;
      });
    } finally {
      metaLock.unlock();
      ioLock.readLock().unlock();
    }
  }

  /** External data file clusters carry no refcount: their space is given back at once. */
  private void discardDataFileCluster(long entry, boolean hasHost) throws IOException {
    if (hasDataFile && hasHost) {
      dataStorage.punchHole(L2Entry.hostOffset(entry), clusterSize);
    }
  }

  /**
   * A raw external data file must stay a valid raw image of the disk: ranges that become zeros
   * (by zero flags or deallocation) are zeroed there too.
   */
  private void zeroRawDataFile(long guestOffset, long length) throws IOException {
    if (hasDataFile && image.header().dataFileRaw()) {
      dataStorage.zeroRange(guestOffset, Math.max(0, Math.min(length, image.size() - guestOffset)));
    }
  }

  // ---------------------------------------------------------------- preallocation

  /** Allocates every cluster of a new, empty image (L2 table first, then its data clusters, as qemu-img). */
  void preallocate(io.qcow4j.disk.Preallocation mode) throws IOException {
    long size = image.size();
    // Host ranges of the data clusters, one per L2 table (the tables lie between them).
    java.util.List<long[]> dataRanges = new java.util.ArrayList<>();
    metaLock.lock();
    try {
      long bytesPerTable = lookup.bytesPerL2Table();
      long allAllocated = extendedL2 ? 0xffff_ffffL : 0;
      for (long tableStart = 0; tableStart < size; tableStart += bytesPerTable) {
        long tableEnd = Math.min(size, tableStart + bytesPerTable);
        lookup.writableSlot(tableStart, refcounts);
        int clusters = (int) ((tableEnd - tableStart + clusterSize - 1) >>> clusterBits);
        long first = hasDataFile ? tableStart : refcounts.allocate(clusters);
        for (int index = 0; index < clusters; index++) {
          long guest = tableStart + ((long) index << clusterBits);
          long host = first + ((long) index << clusterBits);
          long entry = hasDataFile && host == 0 ? L2Entry.COPIED : L2Entry.data(host, true);
          lookup.store(lookup.writableSlot(guest, refcounts), entry, allAllocated);
        }
        dataRanges.add(new long[] {first, (long) clusters << clusterBits});
      }
    } finally {
      metaLock.unlock();
    }
    flush();
    for (long[] range : dataRanges) {
      long start = range[0];
      long end = range[0] + range[1];
      switch (mode) {
        case METADATA -> {
          if (dataStorage.size() < end) {
            dataStorage.truncate(end);
          }
        }
        case FALLOC -> dataStorage.allocate(start, end - start);
        case FULL -> {
          ByteBuffer zeros = ByteBuffer.allocate(1 << 20);
          for (long cursor = start; cursor < end; cursor += zeros.capacity()) {
            zeros.clear().limit((int) Math.min(zeros.capacity(), end - cursor));
            dataStorage.write(zeros, cursor);
          }
        }
        case OFF -> { }
      }
    }
    barrier();
  }

  // ---------------------------------------------------------------- flush

  /** Sets the dirty bit before the first deferred refcount update of a lazy-refcounts image. */
  private void markDirty() throws IOException {
    if (dirtyBitSet || !image.header().lazyRefcounts()) {
      return;
    }
    image.updateHeader(image.header().incompatibleFeatures() | Features.INCOMPAT_DIRTY);
    storage.force(false);
    dirtyBitSet = true;
  }

  /**
   * Clusters freed by discards are reusable only once a flush made the dropping entries durable:
   * when nothing else is free, flush now rather than grow the file past them.
   */
  private void releaseFreedBeforeGrowing() throws IOException {
    if (refcounts.hasPendingFrees() && !refcounts.hasFreeClusters()) {
      flush();
    }
  }

  private void flushIfCacheFull() throws IOException {
    if (lookup.dirtySliceCount() > lookup.cacheCapacity() / 2) {
      flush();
    }
  }

  /**
   * Writes dirty metadata in dependency order: refcount blocks, then the refcount table (and the
   * header if it moved), then L2 slices, then the L1 table, with a barrier between each step that
   * has something to write (lazy refcounts skip the refcount barriers, the dirty bit covers them).
   * Clusters freed by the written entries are then released.
   */
  void flush() throws IOException {
    boolean release;
    metaLock.lock();
    try {
      boolean lazy = dirtyBitSet;
      // Whether everything written so far (guest data included) has passed a barrier.
      boolean settled = false;
      if (refcounts.isDirty()) {
        refcounts.writeBlocks();
        barrierUnless(lazy);
        if (refcounts.writeTable()) {
          barrier();
          image.updateRefcountTable(refcounts.tableOffset(), refcounts.tableClusters());
        }
        barrierUnless(lazy);
        settled = !lazy;
      }
      if (lookup.hasDirtySlices()) {
        if (!settled) {
          // Invariant 1 holds without refcount changes too: data written into a cluster (a reused
          // zero cluster, a fresh one under lazy refcounts) is durable before the entry that maps it,
          // or a crash would map the cluster's old bytes (or a range past the end of the file).
          barrier();
        }
        lookup.writeDirtySlices();
        barrier();
      }
      if (lookup.isL1Dirty()) {
        lookup.writeL1(image.header().l1TableOffset());
        barrier();
      }
      release = refcounts.hasPendingFrees();
    } finally {
      metaLock.unlock();
    }
    if (release) {
      // A freed cluster may be reused for anything: compressed bytes start afresh after it.
      compressedCursor = 0;
      // Let every I/O that could still target a freed cluster finish before the cluster is reused.
      ioLock.writeLock().lock();
      try {
        metaLock.lock();
        try {
          refcounts.releasePending();
        } finally {
          metaLock.unlock();
        }
      } finally {
        ioLock.writeLock().unlock();
      }
    }
  }

  /** Flushes everything with every barrier and clears the dirty bit of a lazy-refcounts image. */
  void flushClean() throws IOException {
    flush();
    metaLock.lock();
    try {
      if (refcounts.isDirty()) {
        refcounts.writeBlocks();
        refcounts.writeTable();
      }
      barrier();
      if (dirtyBitSet) {
        image.updateHeader(image.header().incompatibleFeatures() & ~Features.INCOMPAT_DIRTY);
        storage.force(false);
        dirtyBitSet = false;
      }
    } finally {
      metaLock.unlock();
    }
  }

  private void barrierUnless(boolean lazy) throws IOException {
    if (!lazy) {
      barrier();
    }
  }

  private void barrier() throws IOException {
    if (dataStorage != storage) {
      dataStorage.force(false);
    }
    storage.force(false);
  }

  // ---------------------------------------------------------------- corruption

  interface MetadataChange {
    Void run() throws IOException;
  }

  /** Runs a metadata change; an inconsistency found on the way marks the image corrupt (invariant 6). */
  private void guardCorruption(MetadataChange change) throws IOException {
    try {
      change.run();
    } catch (CorruptImageException e) {
      image.markCorrupt();
      throw e;
    }
  }

  Refcounts refcounts() {
    return refcounts;
  }

  /** Switches to rebuilt refcount structures (the header already points at them). */
  void replaceRefcounts(Refcounts rebuilt) {
    refcounts = rebuilt;
  }
}
