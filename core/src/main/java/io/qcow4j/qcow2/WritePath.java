package io.qcow4j.qcow2;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Preallocation;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.qcow2.format.CompressedDescriptor;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.L2Entry;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The write side of a qcow2 image and its entry point: in-place writes to clusters it owns,
 * allocation and copy-on-write of the others, compressed writes and preallocation; zeroing and
 * discarding are {@link Zeroing}'s, the ordered flush of metadata and the exclusive operations
 * {@link MetadataFlush}'s.
 *
 * <p>Concurrency (ARCHITECTURE.md has the whole picture): every host I/O runs inside an
 * {@link InFlightIo} epoch and holds no lock. A change of one guest cluster's mapping reserves that
 * cluster under {@code metaLock}, does its data I/O without the lock, and stores the new entry under
 * the lock again; every other change of the cluster waits for the reservation. {@code metaLock}
 * guards the caches and the allocator and is never held across data I/O or a barrier; flushes are
 * serialized by {@code flushLock} and write a copy of the dirty metadata taken under the lock. The
 * locks and their order are {@link MetadataFlush}'s, the reservations {@link Reservations}'.
 */
final class WritePath {
  private final QcowFile image;
  private final String name;
  private final Storage storage;
  private final Storage dataStorage;
  private final ClusterLookup lookup;
  private final OverlapGuard guard;
  private volatile Refcounts refcounts;
  private final int clusterBits;
  private final int clusterSize;
  private final boolean extendedL2;
  private final int unitBits;
  private final boolean hasDataFile;
  private final MetadataFlush metadata;
  final InFlightIo io;
  final ReentrantLock metaLock;
  private final Reservations reservations;
  private final Zeroing zeroing;
  /** Where the next compressed cluster's bytes go: packed after the previous one, as QEMU packs them. */
  private long compressedCursor;

  WritePath(QcowFile image, Storage storage, Storage dataStorage, ClusterLookup lookup, Refcounts refcounts,
      OverlapGuard guard, Header header) {
    this.image = image;
    this.name = storage.name();
    this.storage = storage;
    this.dataStorage = dataStorage;
    this.lookup = lookup;
    this.guard = guard;
    this.refcounts = refcounts;
    this.clusterBits = header.clusterBits();
    this.clusterSize = header.clusterSize();
    this.extendedL2 = header.extendedL2();
    this.unitBits = extendedL2 ? clusterBits - 5 : clusterBits;
    this.hasDataFile = header.hasDataFile();
    this.metadata = new MetadataFlush(image, storage, dataStorage, lookup, this::refcounts,
        this::clustersEmptied, clusterBits);
    this.io = metadata.io;
    this.metaLock = metadata.metaLock;
    this.reservations = metadata.reservations;
    this.zeroing = new Zeroing(this, image, dataStorage, lookup, metadata, header);
  }

  // ---------------------------------------------------------------- writes

  /**
   * Writes guest data for {@code guestOffset} at {@code hostOffset} of the data file, encrypted
   * when the image is (the legacy AES method numbers its IVs by guest sector).
   */
  private void writeData(long hostOffset, long guestOffset, ByteBuffer... sources) throws IOException {
    QcowEncryption encryption = image.encryption();
    dataStorage.debugEvent("write_aio");
    if (encryption != null) {
      encryption.write(dataStorage, hostOffset, guestOffset, sources);
    } else if (sources.length == 1) {
      dataStorage.write(sources[0], hostOffset);
    } else {
      dataStorage.write(sources, hostOffset);
    }
  }

  /** Writes all of {@code src} at {@code position} (inside the disk). */
  void write(ByteBuffer src, long position) throws IOException {
    write(src, position, placementFor(position, src.remaining()));
  }

  /** How a write of {@code length} bytes at {@code position} places new clusters (none with an external data file). */
  private AllocationRun placementFor(long position, long length) {
    return hasDataFile ? null : new AllocationRun(clusterBits, position, position + length, image.encryption() != null);
  }

  private void write(ByteBuffer src, long position, AllocationRun placement) throws IOException {
    long total = src.remaining();
    metadata.releaseFreesBeforeAllocating(() -> !allInPlace(position, total));
    long epoch = io.enter();
    try {
      long cursor = position;
      while (src.hasRemaining()) {
        long at = cursor;
        if (placement != null) {
          placement.at(at);
        }
        Run run = image.guarded(() -> lookup.lookupForWrite(at, src.remaining()));
        int length;
        if (run.kind() == L2Entry.Kind.DATA && L2Entry.copied(run.entry())
            && knownOwnedAlone(run.hostOffset(), run.length())) {
          length = (int) run.length();
          checkDataWrite(run.hostOffset(), length);
          metadata.beforeFirstChange();
          int merged = writeInPlaceWithZeroClusters(src.slice(src.position(), src.remaining()), at, length,
              run.hostOffset());
          if (merged > 0) {
            length = merged;
          } else {
            writeData(run.hostOffset(), at, src.slice(src.position(), length));
          }
          if (placement != null) {
            placement.wrote(at, run.hostOffset(), run.hostOffset() + length);
          }
        } else {
          if (placement != null && !placement.covers(at >>> clusterBits)) {
            giveBack(placement);
            planAllocation(placement, at);
          }
          if ((cursor & (clusterSize - 1)) == 0 && src.remaining() >= clusterSize) {
            length = writeWholeClusters(src.slice(src.position(), src.remaining()), cursor, placement);
          } else {
            long clusterEnd = (cursor | (clusterSize - 1)) + 1;
            length = (int) Math.min(src.remaining(), clusterEnd - cursor);
            rewriteCluster(cursor & ~(clusterSize - 1L), src.slice(src.position(), length), cursor, placement);
          }
        }
        src.position(src.position() + length);
        cursor += length;
      }
    } finally {
      if (placement != null) {
        giveBack(placement);
      }
      io.exit(epoch);
    }
    metadata.flushIfCacheFull();
  }

  /**
   * As QEMU's handle_alloc: the clusters from {@code guestOffset}'s on that need a new host cluster,
   * in a row up to the end of the write's pass and of the L2 table (the partial head and tail
   * clusters included), get one contiguous host run now: right after the host range the pass
   * wrote last when they are free there (qcow2_alloc_clusters_at; else a new pass starts), or
   * the allocator's first run of that length. The L2 table is made first, as get_cluster_table
   * makes it before the data clusters are allocated. Nothing is planned when the first cluster
   * needs no new host cluster.
   */
  private void planAllocation(AllocationRun placement, long guestOffset) throws IOException {
    long firstCluster = guestOffset >>> clusterBits;
    metaLock.lock();
    try {
      reservations.await(firstCluster);
      int count = clustersNeedingHosts(firstCluster, placement.passEnd());
      if (count == 0) {
        return;
      }
      metadata.markDirty();
      image.guarded(() -> lookup.writableSlot(guestOffset, refcounts));
      long nextHost = placement.nextHost();
      if (nextHost != -1 && (nextHost & (clusterSize - 1)) == 0) {
        int got = image.guarded(() -> refcounts.allocateAt(nextHost >>> clusterBits, count));
        if (got > 0) {
          placement.allocated(firstCluster, got, nextHost);
          return;
        }
      }
      if (nextHost != -1) {
        placement.newPass(guestOffset);
      }
      int fresh = clustersNeedingHosts(firstCluster, placement.passEnd());
      long host = image.guarded(() -> refcounts.allocate(fresh));
      placement.allocated(firstCluster, fresh, host);
    } catch (CorruptImageException e) {
      throw image.signalCorruption(e);
    } finally {
      metaLock.unlock();
    }
  }

  /**
   * QEMU's count_single_write_clusters for new allocations: how many clusters in a row from
   * {@code firstCluster} need a new host cluster (unallocated, compressed, zero without a host
   * cluster, or shared), up to the cluster holding {@code end - 1} and the end of the L2 table;
   * a cluster another writer has reserved ends the row. Caller holds the lock.
   */
  private int clustersNeedingHosts(long firstCluster, long end) throws IOException {
    long guestOffset = firstCluster << clusterBits;
    long bytesPerTable = lookup.bytesPerL2Table();
    long tableEnd = (guestOffset / bytesPerTable + 1) * bytesPerTable;
    long lastCluster = (Math.min(end, tableEnd) - 1) >>> clusterBits;
    int count = 0;
    while (firstCluster + count <= lastCluster) {
      if (count > 0 && reservations.isReserved(firstCluster + count)) {
        break;
      }
      long guest = (firstCluster + count) << clusterBits;
      long[] words = lookup.entryWords(guest);
      long entry = words[0];
      if (L2Entry.hasHostCluster(entry, false) && L2Entry.copied(entry) && !L2Entry.compressed(entry)) {
        break;
      }
      lookup.checkForWrite(guest, entry, words[1]);
      count++;
    }
    return count;
  }

  /** Gives back the host clusters of the planned run that no cluster took (another writer mapped it meanwhile). */
  private void giveBack(AllocationRun placement) {
    for (long host : placement.untaken()) {
      abortAllocation(host, clusterSize);
    }
  }

  /**
   * Writes the range of {@code src} at {@code position} (inside the disk): extents the image owns
   * go out in place as one vectored I/O each; from the first extent that needs a new mapping, the
   * rest is gathered into one buffer and takes the single-buffer path.
   */
  void write(BufferList src, long position) throws IOException {
    long length = src.length();
    long done = 0;
    AllocationRun placement = placementFor(position, length);
    long epoch = io.enter();
    try {
      while (done < length) {
        long at = position + done;
        long remaining = length - done;
        Run run = image.guarded(() -> lookup.lookupForWrite(at, remaining));
        if (run.kind() != L2Entry.Kind.DATA || !L2Entry.copied(run.entry())
            || !knownOwnedAlone(run.hostOffset(), run.length())
            || (run.length() < remaining && zeroClusterFollows(run))) {
          break;
        }
        checkDataWrite(run.hostOffset(), run.length());
        metadata.beforeFirstChange();
        ByteBuffer[] slices = src.slices(done, run.length());
        if (image.encryption() != null) {
          writeData(run.hostOffset(), at, slices);
        } else if (slices.length == 1) {
          // One buffer goes through the channel, which lets a virtual thread's carrier go meanwhile.
          dataStorage.debugEvent("write_aio");
          dataStorage.write(slices[0], run.hostOffset());
        } else {
          dataStorage.debugEvent("write_aio");
          dataStorage.write(slices, run.hostOffset());
        }
        if (placement != null) {
          placement.at(at);
          placement.wrote(at, run.hostOffset(), run.hostOffset() + run.length());
        }
        done += run.length();
      }
    } finally {
      io.exit(epoch);
    }
    while (done < length) {
      int piece = (int) Math.min(length - done, 1 << 30);
      write(src.gather(done, piece), position + done, placement);
      done += piece;
    }
  }

  /** Whether the whole range maps to data clusters this image owns (COPIED), which a write changes in place. */
  private boolean allInPlace(long position, long length) throws IOException {
    long cursor = position;
    while (cursor < position + length) {
      long at = cursor;
      Run run = image.guarded(() -> lookup.lookupForWrite(at, position + length - at));
      if (run.kind() != L2Entry.Kind.DATA || !L2Entry.copied(run.entry())) {
        return false;
      }
      cursor = run.guestEnd();
    }
    return true;
  }

  /**
   * Whether the cluster right after an in-place run is a zero cluster whose own host cluster follows
   * the run's (read without the lock): the single-buffer path then writes both at once.
   */
  private boolean zeroClusterFollows(Run run) throws IOException {
    long next = run.guestEnd();
    if (extendedL2 || hasDataFile || (next & (clusterSize - 1)) != 0 || next >= image.size()) {
      return false;
    }
    long entry = entryAt(next);
    return L2Entry.kind(entry, false) == L2Entry.Kind.ZERO && L2Entry.copied(entry)
        && L2Entry.hostOffset(entry) == run.hostOffset() + run.length();
  }

  /**
   * Writes an in-place run ({@code prefixLength} bytes at host {@code prefixHost}) together with the
   * whole clusters after it that keep their own host cluster right behind it (zero clusters with a
   * preallocated host cluster, or more in-place data): one data write, as QEMU's
   * qcow2_alloc_host_offset merges copied and reused clusters into one host range, so that one
   * guest write raises one write_aio event. The zero clusters become data once the write is done.
   * Returns the bytes written, 0 when no cluster follows that could join (nothing written then).
   */
  private int writeInPlaceWithZeroClusters(ByteBuffer data, long guestOffset, int prefixLength, long prefixHost)
      throws IOException {
    long joinStart = guestOffset + prefixLength;
    if (extendedL2 || hasDataFile || (joinStart & (clusterSize - 1)) != 0
        || data.remaining() - prefixLength < clusterSize) {
      return 0;
    }
    long firstCluster = joinStart >>> clusterBits;
    int count;
    boolean[] wasZero;
    metaLock.lock();
    try {
      long bytesPerTable = lookup.bytesPerL2Table();
      long tableEnd = (joinStart / bytesPerTable + 1) * bytesPerTable;
      int maxClusters = (int) Math.min((data.remaining() - prefixLength) >>> clusterBits,
          (tableEnd - joinStart) >>> clusterBits);
      wasZero = new boolean[maxClusters];
      count = 0;
      boolean anyZero = false;
      while (count < maxClusters && !reservations.isReserved(firstCluster + count)) {
        long guest = joinStart + ((long) count << clusterBits);
        long entry = entryAt(guest);
        boolean ownsHost = L2Entry.hasHostCluster(entry, false) && L2Entry.copied(entry) && !L2Entry.compressed(entry);
        if (!ownsHost || L2Entry.hostOffset(entry) != prefixHost + prefixLength + ((long) count << clusterBits)) {
          break;
        }
        checkOwnedAlone(guest, entry);
        wasZero[count] = L2Entry.kind(entry, false) == L2Entry.Kind.ZERO;
        anyZero |= wasZero[count];
        count++;
      }
      if (!anyZero) {
        // Data clusters alone gain nothing from joining: the plain in-place path writes them.
        return 0;
      }
      metadata.markDirty();
      image.guarded(() -> lookup.writableSlot(joinStart, refcounts));
      reservations.reserve(firstCluster, count);
    } catch (CorruptImageException e) {
      throw image.signalCorruption(e);
    } finally {
      metaLock.unlock();
    }
    int length = prefixLength + (count << clusterBits);
    try {
      checkDataWrite(prefixHost, length);
      writeData(prefixHost, guestOffset, data.slice(0, length));
    } catch (IOException | RuntimeException e) {
      reservations.end(firstCluster, count);
      throw e;
    }
    int joined = count;
    finishMapping(firstCluster, count, () -> {
      for (int index = 0; index < joined; index++) {
        if (wasZero[index]) {
          long guest = joinStart + ((long) index << clusterBits);
          long host = prefixHost + prefixLength + ((long) index << clusterBits);
          lookup.store(lookup.writableSlot(guest, refcounts), L2Entry.data(host, true), 0);
        }
      }
    });
    return length;
  }

  /**
   * Whether every host cluster of the range has refcount 1 in the loaded refcount blocks, read
   * without the lock; false when a block is not loaded, and the write then takes the locked path,
   * which loads it ({@link #checkOwnedAlone}).
   */
  private boolean knownOwnedAlone(long hostOffset, long length) {
    if (hasDataFile) {
      return true;
    }
    for (long cluster = hostOffset >>> clusterBits; cluster <= (hostOffset + length - 1) >>> clusterBits; cluster++) {
      if (refcounts.cachedRefcount(cluster) != 1) {
        return false;
      }
    }
    return true;
  }

  /**
   * Refuses to write in place into a host cluster whose refcount is not 1, under the metadata lock.
   * Its L2 entry says the cluster is this image's alone (COPIED); with any other refcount the entry
   * or the refcounts are damaged, and the allocator may hand the cluster out again (refcount 0) or
   * a snapshot still reads it: the write would change data elsewhere.
   */
  private void checkOwnedAlone(long guestOffset, long entry) throws IOException {
    if (hasDataFile) {
      return;
    }
    long host = L2Entry.hostOffset(entry);
    // a host cluster outside the file or on metadata is refused as such first
    checkDataWrite(host, clusterSize);
    long refcount = refcounts.get(host >>> clusterBits);
    if (refcount != 1) {
      throw new CorruptImageException(String.format("%s: the L2 entry of guest offset 0x%x (0x%x) marks host cluster"
          + " 0x%x as this image's alone (COPIED), but its refcount is %s", name, guestOffset, entry, host,
          Long.toUnsignedString(refcount)));
    }
  }

  /** Refuses a guest data write to a host range of the image file that is not a data cluster's. */
  private void checkDataWrite(long hostOffset, long length) throws IOException {
    if (!hasDataFile) {
      guard.refuseWhileUncheckable();
      image.guarded(() -> {
        guard.check(hostOffset, length, OverlapGuard.NONE, refcounts.ownedEnd(), "data write");
        return null;
      });
    }
  }

  /**
   * Writes whole clusters from {@code data} at cluster-aligned {@code guestOffset}: the leading run
   * of clusters that cannot be written in place gets fresh contiguous host clusters and one write
   * (a cluster with a host cluster of its own is rewritten in place, with the clusters after it
   * whose own host clusters follow contiguously). Returns the bytes written (at least one cluster).
   */
  private int writeWholeClusters(ByteBuffer data, long guestOffset, AllocationRun placement) throws IOException {
    long firstCluster = guestOffset >>> clusterBits;
    long[] oldEntries;
    long[] oldBitmaps;
    int count;
    long target;
    metaLock.lock();
    try {
      reservations.await(firstCluster);
      int maxClusters = data.remaining() >>> clusterBits;
      long bytesPerTable = lookup.bytesPerL2Table();
      // Stay within one L2 table so the entries' slots are found once each.
      long tableEnd = (guestOffset / bytesPerTable + 1) * bytesPerTable;
      maxClusters = (int) Math.min(maxClusters, (tableEnd - guestOffset) >>> clusterBits);
      oldEntries = new long[maxClusters];
      oldBitmaps = new long[maxClusters];
      count = 0;
      boolean inPlace = false;
      while (count < maxClusters) {
        if (count > 0 && reservations.isReserved(firstCluster + count)) {
          break;
        }
        long guest = guestOffset + ((long) count << clusterBits);
        long[] words = image.guarded(() -> lookup.entryWords(guest));
        long entry = words[0];
        lookup.checkForWrite(guest, entry, words[1]);
        oldBitmaps[count] = words[1];
        boolean ownsHost = L2Entry.hasHostCluster(entry, hasDataFile) && L2Entry.copied(entry) && !L2Entry.compressed(entry);
        if (ownsHost) {
          // A cluster with a host cluster of its own is rewritten in place, together with the
          // clusters after it whose own host clusters follow its (QEMU writes such a host range at
          // once: one write_aio event).
          boolean follows = inPlace
              && L2Entry.hostOffset(entry) == L2Entry.hostOffset(oldEntries[0]) + ((long) count << clusterBits);
          if (count == 0 || follows) {
            checkOwnedAlone(guestOffset + ((long) count << clusterBits), entry);
            oldEntries[count++] = entry;
            inPlace = true;
            continue;
          }
          break;
        }
        if (inPlace) {
          break;
        }
        oldEntries[count++] = entry;
      }
      boolean planned = !inPlace && placement != null && placement.has(firstCluster);
      if (planned) {
        count = Math.min(count, placement.available(firstCluster));
      }
      for (int index = 0; index < count; index++) {
        boolean hadHost = L2Entry.hasHostCluster(oldEntries[index], hasDataFile);
        checkRelease(oldEntries[index], hadHost, inPlace ? L2Entry.hostOffset(oldEntries[index]) : -1);
      }
      metadata.markDirty();
      image.guarded(() -> lookup.writableSlot(guestOffset, refcounts));
      target = inPlace ? L2Entry.hostOffset(oldEntries[0]) : hasDataFile ? guestOffset
          : planned ? placement.take(firstCluster, count) : refcounts.allocate(count);
      long length = (long) count << clusterBits;
      checkDataWrite(target, length);
      reservations.reserve(firstCluster, count);
    } catch (CorruptImageException e) {
      throw image.signalCorruption(e);
    } finally {
      metaLock.unlock();
    }
    int length = count << clusterBits;
    try {
      writeData(target, guestOffset, data.slice(0, length));
    } catch (IOException | RuntimeException e) {
      if (!inPlaceWrite(oldEntries[0], target)) {
        abortAllocation(target, length);
      }
      reservations.end(firstCluster, count);
      throw e;
    }
    if (placement != null) {
      placement.wrote(guestOffset, target, target + length);
    }
    int stored = count;
    long first = target;
    finishMapping(firstCluster, count, () -> {
      for (int index = 0; index < stored; index++) {
        long guest = guestOffset + ((long) index << clusterBits);
        long host = first + ((long) index << clusterBits);
        ClusterLookup.Slot slot = lookup.writableSlot(guest, refcounts);
        long entry = hasDataFile && host == 0 ? L2Entry.COPIED : L2Entry.data(host, true);
        if (!(extendedL2 && host == hostOrMinusOne(oldEntries[index], L2Entry.hasHostCluster(oldEntries[index],
            hasDataFile)) && oldBitmaps[index] == 0xffff_ffffL)) {
          // an in-place cluster all of whose subclusters were allocated keeps its entry as it is
          // (QEMU's calculate_l2_meta makes no change then, reserved bits included)
          lookup.store(slot, entry, extendedL2 ? 0xffff_ffffL : 0);
        }
        releaseOld(oldEntries[index], L2Entry.hasHostCluster(oldEntries[index], hasDataFile), host);
      }
    });
    return length;
  }

  private long entryAt(long guestOffset) throws IOException {
    return image.guarded(() -> lookup.entryWords(guestOffset))[0];
  }

  /**
   * Makes the cluster at {@code clusterStart} fully allocated in this layer, keeping what it reads
   * as: its units without data of their own get their current content written to a host cluster.
   */
  void allocateCluster(long clusterStart) throws IOException {
    metadata.releaseFreesBeforeAllocating(() -> !allInPlace(clusterStart, clusterSize));
    long epoch = io.enter();
    try {
      rewriteCluster(clusterStart, null, clusterStart, null);
    } finally {
      io.exit(epoch);
    }
  }

  /**
   * Gives the cluster a host cluster of its own holding {@code data} at {@code guestOffset} and,
   * around it, what the cluster read as before (a write inside one cluster that cannot go in place;
   * with extended L2, the subclusters written). With {@code data} null the cluster is rewritten
   * with its current content (nothing happens when it holds data in place already), except units
   * holding data in place: concurrent in-place writers there lose nothing. A new host cluster
   * comes from {@code placement} when it planned one for the cluster.
   */
  private void rewriteCluster(long clusterStart, ByteBuffer data, long guestOffset, AllocationRun placement)
      throws IOException {
    boolean allocateOnly = data == null;
    long clusterIndex = clusterStart >>> clusterBits;
    long[] words;
    boolean hasHost;
    long target;
    metaLock.lock();
    try {
      reservations.await(clusterIndex);
      words = image.guarded(() -> lookup.entryWords(clusterStart));
      lookup.checkForWrite(clusterStart, words[0], words[1]);
      hasHost = L2Entry.hasHostCluster(words[0], hasDataFile);
      boolean ownHost = hasHost && L2Entry.copied(words[0]);
      boolean allData = L2Entry.kind(words[0], hasDataFile) == L2Entry.Kind.DATA
          && (!extendedL2 || (words[1] & 0xffff_ffffL) == 0xffff_ffffL);
      if (allocateOnly && ownHost && allData) {
        return;
      }
      metadata.markDirty();
      image.guarded(() -> lookup.writableSlot(clusterStart, refcounts));
      checkRelease(words[0], hasHost, ownHost ? L2Entry.hostOffset(words[0]) : -1);
      if (ownHost) {
        checkOwnedAlone(clusterStart, words[0]);
      }
      target = ownHost ? L2Entry.hostOffset(words[0])
          : placement != null && placement.has(clusterIndex) ? placement.take(clusterIndex, 1)
          : allocateDataCluster(clusterStart);
      checkDataWrite(target, clusterSize);
      reservations.reserve(clusterIndex, 1);
    } catch (CorruptImageException e) {
      throw image.signalCorruption(e);
    } finally {
      metaLock.unlock();
    }
    long newBitmap;
    try {
      ByteBuffer bytes = data;
      if (allocateOnly) {
        bytes = ByteBuffer.allocate(clusterSize);
        image.readLayer(bytes.duplicate(), clusterStart);
      }
      ByteBuffer written = bytes;
      newBitmap = image.guarded(
          () -> fillCluster(written, guestOffset, clusterStart, words[0], words[1], hasHost, target, allocateOnly));
    } catch (IOException | RuntimeException e) {
      if (!inPlaceWrite(words[0], target)) {
        abortAllocation(target, clusterSize);
      }
      reservations.end(clusterIndex, 1);
      throw e;
    }
    if (placement != null) {
      long inCluster = guestOffset - clusterStart;
      placement.wrote(guestOffset, target + inCluster, target + clusterSize);
    }
    finishMapping(clusterIndex, 1, () -> {
      ClusterLookup.Slot slot = lookup.writableSlot(clusterStart, refcounts);
      long newEntry = hasDataFile && target == 0 ? L2Entry.COPIED : L2Entry.data(target, true);
      if (!(extendedL2 && target == hostOrMinusOne(words[0], hasHost) && newBitmap == words[1])) {
        // in place with the subclusters as they were, the entry stays as it is (QEMU's
        // calculate_l2_meta makes no change then, reserved bits included)
        lookup.store(slot, newEntry, extendedL2 ? newBitmap : 0);
      }
      releaseOld(words[0], hasHost, target);
    });
  }

  /**
   * Writes the new bytes into host cluster {@code target}, with what the cluster read as before
   * around them where the target does not hold it yet; returns the cluster's new subcluster bitmap
   * (allocation bits low, zero bits high). With {@code keepInPlaceData}, units that already hold
   * data in the target are left alone rather than rewritten.
   */
  private long fillCluster(ByteBuffer data, long guestOffset, long clusterStart, long entry, long bitmap,
      boolean hasHost, long target, boolean keepInPlaceData) throws IOException {
    boolean compressed = L2Entry.compressed(entry);
    int units = extendedL2 ? L2Entry.SUBCLUSTERS : 1;
    int unitSize = 1 << unitBits;
    int firstTouched = (int) ((guestOffset - clusterStart) >>> unitBits);
    int lastTouched = (int) ((guestOffset + data.remaining() - 1 - clusterStart) >>> unitBits);
    long newAllocated = 0;
    long newZero = 0;
    boolean fresh = target != hostOrMinusOne(entry, hasHost);
    // As QEMU's calculate_l2_meta: a cluster with a host cluster that moves to a fresh one takes
    // along every subcluster from the first allocated one (or the first written, if before) to the
    // last allocated (or last written): they are copied as they read, and all become allocated.
    int cowFirst = firstTouched;
    int cowLast = lastTouched;
    long allocatedBefore = bitmap & 0xffff_ffffL;
    if (extendedL2 && fresh && hasHost && !compressed && allocatedBefore != 0) {
      cowFirst = Math.min(firstTouched, Long.numberOfTrailingZeros(allocatedBefore));
      cowLast = Math.max(lastTouched, 63 - Long.numberOfLeadingZeros(allocatedBefore));
    }
    // The cluster as written, made only when some unit needs what it read as before.
    ByteBuffer out = null;
    // Byte ranges of the cluster to write, in order; adjacent ones are merged into one write.
    int[] ranges = new int[2 * units];
    int rangeCount = 0;
    // Whether a partly written unit of a fresh cluster left its rest as the zeros the cluster reads
    // as (QEMU's zero copy-on-write), and whether one had to copy its rest instead.
    boolean zeroCow = false;
    boolean copiedCow = false;
    for (int unit = 0; unit < units; unit++) {
      L2Entry.Kind kind = compressed ? L2Entry.Kind.COMPRESSED : unitKind(entry, bitmap, unit);
      long unitGuest = clusterStart + ((long) unit << unitBits);
      boolean touched = unit >= firstTouched && unit <= lastTouched
          && !(keepInPlaceData && !fresh && kind == L2Entry.Kind.DATA);
      boolean copyOld = !touched && fresh
          && (kind == L2Entry.Kind.DATA || kind == L2Entry.Kind.COMPRESSED || unit >= cowFirst && unit <= cowLast);
      if (!touched && !copyOld) {
        if (kind == L2Entry.Kind.DATA) {
          newAllocated |= 1L << unit;
        } else if (kind == L2Entry.Kind.ZERO) {
          newZero |= 1L << unit;
        }
        continue;
      }
      int unitStart = unit * unitSize;
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
        } else if (fresh && touched && !hasDataFile && image.encryption() == null && readsZero(kind, unitGuest)) {
          // A fresh host cluster already reads as zeros (an external data file's need not, nor an
          // encrypted one's: zeros decrypt to noise).
          from = (int) (dataStart - clusterStart);
          to = (int) (dataEnd - clusterStart);
          zeroCow = true;
        } else {
          copiedCow |= touched;
          if (out == null) {
            out = ByteBuffer.allocate(clusterSize);
          }
          image.readLayer(out.slice(unitStart, unitSize), unitGuest);
        }
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
    if (zeroCow && !copiedCow) {
      // As QEMU's handle_alloc_space: the touched units of the fresh cluster are zeroed on the host
      // where that is cheap (fallocate), rather than left as holes: the file's size and allocation,
      // which block status goes by, are then QEMU's.
      dataStorage.zeroRangeWithoutFallback(target + ((long) firstTouched << unitBits),
          (long) (lastTouched - firstTouched + 1) << unitBits);
    }
    int dataFrom = (int) (guestOffset - clusterStart);
    if (out == null && rangeCount == 1 && ranges[0] == dataFrom && ranges[1] == dataFrom + data.remaining()) {
      // Only the new bytes go out: straight from the caller's buffer.
      writeData(target + dataFrom, clusterStart + dataFrom, data.duplicate());
      return newAllocated | (newZero << 32);
    }
    if (out == null) {
      out = ByteBuffer.allocate(clusterSize);
    }
    if (firstTouched <= lastTouched && data.hasRemaining()) {
      out.put(dataFrom, data, data.position(), data.remaining());
    }
    for (int range = 0; range < rangeCount; range++) {
      int from = ranges[2 * range];
      int to = ranges[2 * range + 1];
      writeData(target + from, clusterStart + from, out.slice(from, to - from));
    }
    return newAllocated | (newZero << 32);
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
    DiskFile backing = image.backingDisk();
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

  /** Whether a write to {@code target} goes to the host cluster the old entry already maps (nothing was allocated). */
  private boolean inPlaceWrite(long oldEntry, long target) {
    return hasDataFile || L2Entry.hasHostCluster(oldEntry, hasDataFile) && L2Entry.hostOffset(oldEntry) == target;
  }

  /**
   * Gives back the clusters a write allocated when its data could not be written (QEMU's
   * qcow2_alloc_cluster_abort): no entry maps them yet, so the next allocation may take them again
   * rather than leak them. A preallocated cluster the write targeted in place is kept.
   */
  private void abortAllocation(long hostOffset, long length) {
    metaLock.lock();
    try {
      refcounts.abortAllocation(hostOffset, length);
    } catch (IOException | RuntimeException e) {
      // the clusters stay allocated: a leak, which check reports and -r leaks repairs
    } finally {
      metaLock.unlock();
    }
  }

  /** A host cluster for guest data: a fresh refcounted one, or the guest offset in an external data file. */
  private long allocateDataCluster(long clusterStart) throws IOException {
    if (hasDataFile) {
      return clusterStart;
    }
    return refcounts.allocate(1);
  }

  /**
   * Refuses a mapping change whose old entry refers to a range that holds metadata or lies past
   * the image: the change would free it. Called before anything changes (caller holds the lock).
   */
  void checkRelease(long oldEntry, boolean hadHost, long newTarget) throws IOException {
    if (L2Entry.compressed(oldEntry)) {
      CompressedDescriptor descriptor = CompressedDescriptor.decode(oldEntry, clusterBits);
      long start = descriptor.hostOffset() & ~511L;
      guard.check(start, (descriptor.additionalSectors() + 1L) * 512, OverlapGuard.WRITES_ONLY, refcounts.ownedEnd(),
          "free of a compressed cluster");
    } else if (hadHost && L2Entry.hostOffset(oldEntry) != newTarget && !hasDataFile) {
      guard.check(L2Entry.hostOffset(oldEntry), clusterSize, OverlapGuard.WRITES_ONLY, refcounts.ownedEnd(),
          "free of a data cluster");
    }
  }

  /** Drops the reference an entry held when its cluster moved elsewhere or went away (checked by {@link #checkRelease}). */
  void releaseOld(long oldEntry, boolean hadHost, long newTarget) throws IOException {
    if (L2Entry.compressed(oldEntry)) {
      CompressedDescriptor descriptor = CompressedDescriptor.decode(oldEntry, clusterBits);
      refcounts.freeLater(descriptor.hostOffset() & ~511L, (descriptor.additionalSectors() + 1L) * 512);
    } else if (hadHost && L2Entry.hostOffset(oldEntry) != newTarget && !hasDataFile) {
      refcounts.freeLater(L2Entry.hostOffset(oldEntry), clusterSize);
    }
  }

  // ---------------------------------------------------------------- finishing a mapping change

  interface MetadataChange {
    void run() throws IOException;
  }

  /** Stores the result of a reserved mapping change under the lock, then ends the reservation. */
  void finishMapping(long firstCluster, int count, MetadataChange change) throws IOException {
    metaLock.lock();
    try {
      image.guarded(() -> {
        change.run();
        return null;
      });
    } finally {
      reservations.end(firstCluster, count);
      metaLock.unlock();
    }
  }

  // ---------------------------------------------------------------- compressed clusters

  /**
   * Stores {@code compressed} (one cluster's compressed bytes) as the content of the cluster at
   * {@code guestOffset}. Host clusters that the bytes touch gain one reference each.
   */
  void writeCompressed(long guestOffset, byte[] compressed) throws IOException {
    if (hasDataFile) {
      throw new UnsupportedFeatureException(name + ": compressed clusters cannot go to an external data file");
    }
    long clusterStart = guestOffset & ~(clusterSize - 1L);
    long clusterIndex = clusterStart >>> clusterBits;
    metadata.releaseFreesBeforeAllocating(() -> true);
    long epoch = io.enter();
    try {
      long[] words;
      long start;
      metaLock.lock();
      try {
        reservations.await(clusterIndex);
        words = image.guarded(() -> lookup.entryWords(clusterStart));
        metadata.markDirty();
        image.guarded(() -> lookup.writableSlot(clusterStart, refcounts));
        checkRelease(words[0], L2Entry.hasHostCluster(words[0], hasDataFile), -1);
        start = placeCompressed(compressed.length);
        reservations.reserve(clusterIndex, 1);
      } catch (CorruptImageException e) {
        throw image.signalCorruption(e);
      } finally {
        metaLock.unlock();
      }
      try {
        guard.refuseWhileUncheckable();
        storage.debugEvent("write_compressed");
        storage.write(ByteBuffer.wrap(compressed), start);
      } catch (IOException | RuntimeException e) {
        reservations.end(clusterIndex, 1);
        throw e;
      }
      finishMapping(clusterIndex, 1, () -> {
        ClusterLookup.Slot slot = lookup.writableSlot(clusterStart, refcounts);
        lookup.store(slot, CompressedDescriptor.of(start, compressed.length).encode(clusterBits), 0);
        releaseOld(words[0], L2Entry.hasHostCluster(words[0], hasDataFile), -1);
      });
    } finally {
      io.exit(epoch);
    }
    metadata.flushIfCacheFull();
  }

  /**
   * Finds room for compressed bytes, packed after the previous ones where they fit; caller holds the
   * lock. As QEMU's qcow2_alloc_bytes: when the cluster the packing is in cannot take one more
   * reference (always so with 1-bit refcounts), the bytes start afresh; when they do not fit, one
   * more cluster is allocated where the allocator finds one (a freed one first), and the bytes
   * run on into it when it follows the packing's cluster, else start in it. The packing starts
   * afresh too whenever clusters are freed ({@link #clustersEmptied}): its cluster may be one of them.
   */
  private long placeCompressed(long length) throws IOException {
    storage.debugEvent("cluster_alloc_bytes");
    long start = compressedCursor;
    // a full cluster takes no more; nor one nothing holds (the cursor is reset when clusters are freed)
    if (start != 0 && (!refcounts.canIncrement(start >>> clusterBits) || refcounts.get(start >>> clusterBits) == 0)) {
      start = 0;
    }
    if (length > clusterSize) {
      // more than a cluster (a library caller's bytes; QEMU never compresses to more): contiguous clusters
      start = refcounts.allocateForBytes((int) ((length + clusterSize - 1) >>> clusterBits));
    } else if (start != 0 && length <= clusterSize - (start & (clusterSize - 1))) {
      refcounts.increment(start, length);
    } else {
      long newCluster = refcounts.allocateForBytes(1);
      long clusterEnd = (start | (clusterSize - 1)) + 1;
      if (start != 0 && clusterEnd == newCluster) {
        refcounts.increment(start, clusterEnd - start);
      } else {
        start = newCluster;
      }
    }
    compressedCursor = ((start + length) & (clusterSize - 1)) == 0 ? 0 : start + length;
    return start;
  }

  /**
   * Host clusters were freed (caller holds the lock, and no I/O that began before the frees is in
   * flight): compressed bytes start afresh rather than pack into a cluster that may be handed out
   * again, and reads forget the last cluster decompressed, whose L2 entry (host offset and length)
   * compressed bytes placed in a freed cluster may have again with other bytes.
   */
  private void clustersEmptied() {
    compressedCursor = 0;
    image.reads().forgetDecompressed();
  }

  // ---------------------------------------------------------------- preallocation

  /**
   * Allocates every cluster of a new, empty image (L2 table first, then its data clusters, as
   * qemu-img). With extended L2 the subclusters stay unallocated, as QEMU's preallocate_co links
   * preallocated clusters without touching their bitmap: they read from the backing file, if any,
   * until written.
   */
  void preallocate(Preallocation mode) throws IOException {
    long size = image.size();
    // Host ranges of the data clusters, one per L2 table (the tables lie between them).
    List<long[]> dataRanges = new ArrayList<>();
    metaLock.lock();
    try {
      long bytesPerTable = lookup.bytesPerL2Table();
      long allAllocated = 0;
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
    metadata.barrier();
  }

  /**
   * Maps every cluster from cluster-aligned {@code start} to {@code end} that has no host cluster
   * to a fresh one, unwritten (a fresh cluster reads as zeros: past the file's end, or punched when
   * reused), and extends the file over them: metadata preallocation of a grown part.
   */
  void preallocateMetadata(long start, long end) throws IOException {
    long hostEnd = 0;
    long allAllocated = extendedL2 ? 0xffff_ffffL : 0;
    metadata.releaseFreesBeforeAllocating(() -> true);
    long epoch = io.enter();
    try {
      metaLock.lock();
      try {
        for (long guest = start; guest < end; guest += clusterSize) {
          long clusterStart = guest;
          reservations.await(clusterStart >>> clusterBits);
          long[] words = image.guarded(() -> lookup.entryWords(clusterStart));
          if (L2Entry.hasHostCluster(words[0], hasDataFile)) {
            continue;
          }
          metadata.markDirty();
          image.guarded(() -> lookup.writableSlot(clusterStart, refcounts));
          long host = hasDataFile ? clusterStart : refcounts.allocate(1);
          long entry = hasDataFile && host == 0 ? L2Entry.COPIED : L2Entry.data(host, true);
          lookup.store(image.guarded(() -> lookup.writableSlot(clusterStart, refcounts)), entry, allAllocated);
          hostEnd = Math.max(hostEnd, host + clusterSize);
        }
      } catch (CorruptImageException e) {
        throw image.signalCorruption(e);
      } finally {
        metaLock.unlock();
      }
    } finally {
      io.exit(epoch);
    }
    if (dataStorage.size() < hostEnd) {
      dataStorage.truncate(hostEnd);
    }
    flush();
  }

  Refcounts refcounts() {
    return refcounts;
  }

  /** Switches to rebuilt refcount structures (the header already points at them). */
  void replaceRefcounts(Refcounts rebuilt) {
    refcounts = rebuilt;
  }

  // ---------------------------------------------------------------- flush and exclusive operations

  /** Writes the dirty metadata in dependency order ({@link MetadataFlush#flush}). */
  void flush() throws IOException {
    metadata.flush();
  }

  /** Flushes everything, deferred refcount blocks too ({@link MetadataFlush#flushAll}). */
  void flushAll() throws IOException {
    metadata.flushAll();
  }

  /** A repair cleared the dirty bit ({@link MetadataFlush#dirtyBitCleared}). */
  void dirtyBitCleared() {
    metadata.dirtyBitCleared();
  }

  /** Flushes with every barrier and clears a lazy-refcounts image's dirty bit ({@link MetadataFlush#flushClean}). */
  void flushClean() throws IOException {
    metadata.flushClean();
  }

  /** Runs an operation that rewrites the tree wholesale ({@link MetadataFlush#exclusive(MetadataFlush.ExclusiveAction)}). */
  <T> T exclusive(MetadataFlush.ExclusiveAction<T> action) throws IOException {
    return metadata.exclusive(action);
  }

  /** Like {@link #exclusive(MetadataFlush.ExclusiveAction)}; {@code changes} false for an action that only reads. */
  <T> T exclusive(boolean changes, MetadataFlush.ExclusiveAction<T> action) throws IOException {
    return metadata.exclusive(changes, action);
  }

  // ---------------------------------------------------------------- zeroes and discard

  /** Makes the range read as zeros ({@link Zeroing#writeZeroes}). */
  void writeZeroes(long offset, long length, boolean unmap) throws IOException {
    zeroing.writeZeroes(offset, length, unmap);
  }

  /** Deallocates whole clusters and zeroes partial ones ({@link Zeroing#discard}). */
  void discard(long offset, long length) throws IOException {
    zeroing.discard(offset, length);
  }

  /** Makes one whole cluster unallocated, so the backing file shows through ({@link Zeroing#unallocate}). */
  void unallocate(long clusterStart) throws IOException {
    zeroing.unallocate(clusterStart);
  }
}
