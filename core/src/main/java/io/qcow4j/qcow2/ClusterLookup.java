package io.qcow4j.qcow2;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.qcow2.format.L1Entry;
import io.qcow4j.qcow2.format.L2Entry;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * Translates guest offsets to {@link Run}s through the L1 table and cached L2 slices, validating
 * every entry it uses against the format and the file's bounds. Readers are lock-free: L1 entries
 * are published with release/acquire, L2 entries through {@link L2Cache.Slice}. Changes are made
 * under the image's metadata lock and reach the file through {@link #takeDirty}.
 */
final class ClusterLookup {
  private static final VarHandle L1_ENTRIES = MethodHandles.arrayElementVarHandle(long[].class);

  private final String name;
  private final Storage storage;
  private final int clusterBits;
  private final int clusterSize;
  private final boolean extendedL2;
  private final boolean hostOffsetZeroValid;
  private final boolean zeroFlagValid;
  private final OverlapGuard guard;
  private final int l2Bits;
  private final int entryWords;
  private final int sliceEntries;
  private final L2Cache cache;
  private final FileSize fileSize;
  private volatile long[] l1;
  /** Dirty slices by host offset; guarded by the image's metadata lock. */
  private final TreeMap<Long, L2Cache.Slice> dirtySlices = new TreeMap<>();
  /** Tables allocated since the last flush took the dirty set: their first write is QEMU's l2_alloc_write. */
  private final java.util.Set<Long> newTables = new java.util.HashSet<>();
  private volatile int dirtySliceCount;
  private boolean l1Dirty;
  /** The L1 table's host offset, and the first index whose entry lies in another structure. */
  private volatile long l1Offset;
  private volatile long firstOverlappingL1Index = Long.MAX_VALUE;
  /** L1 entries that point at an L2 table an earlier entry points at already (null: none). */
  private volatile java.util.Set<Long> sharingL1Entries;

  ClusterLookup(String name, Storage storage, int clusterBits, boolean extendedL2, boolean hasDataFile,
      boolean zeroFlagValid, long[] l1, long cacheBytes, FileSize fileSize, OverlapGuard guard) {
    this.name = name;
    this.zeroFlagValid = zeroFlagValid;
    this.guard = guard;
    this.storage = storage;
    this.clusterBits = clusterBits;
    this.clusterSize = 1 << clusterBits;
    this.extendedL2 = extendedL2;
    this.hostOffsetZeroValid = hasDataFile;
    this.entryWords = extendedL2 ? 2 : 1;
    this.l2Bits = clusterBits - (extendedL2 ? 4 : 3);
    this.l1 = l1;
    this.fileSize = fileSize;
    int tableBytes = clusterSize;
    long allTablesBytes = (long) l1.length * tableBytes;
    // Whole tables when the budget maps the whole image; 4 KiB slices otherwise, since whole-table
    // entries thrash when they cannot all stay.
    int sliceBytes = allTablesBytes <= cacheBytes ? tableBytes : Math.min(tableBytes, 4096);
    this.sliceEntries = sliceBytes / (8 * entryWords);
    this.cache = new L2Cache(cacheBytes, sliceBytes);
  }

  int clusterSize() {
    return clusterSize;
  }

  /** The bytes of guest space one L2 table maps. */
  long bytesPerL2Table() {
    return 1L << (clusterBits + l2Bits);
  }

  /**
   * The run of uniform mapping that starts at {@code guestOffset}, at most {@code maxLength} bytes
   * long; it may be shorter (it stops at the end of a cached slice, or after one compressed cluster).
   */
  Run lookup(long guestOffset, long maxLength) throws IOException {
    return lookup(guestOffset, maxLength, false);
  }

  /**
   * As {@link #lookup(long, long)}, for a write: a damaged entry is reported with the corruption
   * event QEMU's write path raises for it (calculate_l2_meta, handle_copied) rather than its read
   * path's (qcow2_get_host_offset).
   */
  Run lookupForWrite(long guestOffset, long maxLength) throws IOException {
    return lookup(guestOffset, maxLength, true);
  }

  private Run lookup(long guestOffset, long maxLength, boolean write) throws IOException {
    long l1Index = guestOffset >>> (clusterBits + l2Bits);
    long tableEnd = (l1Index + 1) << (clusterBits + l2Bits);
    long limit = Math.min(guestOffset + maxLength, tableEnd);
    checkL1Place(l1Index);
    long l2Offset = l2OffsetAt(l1Index);
    if (l2Offset == 0) {
      return new Run(L2Entry.Kind.UNALLOCATED, guestOffset, limit - guestOffset, Run.NO_HOST, 0);
    }
    checkL2Offset(l2Offset, l1Index);

    int l2Index = (int) ((guestOffset >>> clusterBits) & ((1 << l2Bits) - 1));
    int sliceIndex = l2Index / sliceEntries;
    L2Cache.Slice slice = slice(l2Offset + (long) sliceIndex * sliceEntries * 8 * entryWords);
    long sliceEnd = ((l1Index << l2Bits) + (long) (sliceIndex + 1) * sliceEntries) << clusterBits;
    limit = Math.min(limit, sliceEnd);

    Run first = null;
    long cursor = guestOffset;
    int entryIndex = l2Index - sliceIndex * sliceEntries;
    long[] pair = extendedL2 ? new long[2] : null;
    while (cursor < limit) {
      long clusterStart = cursor & ~(clusterSize - 1L);
      Run piece;
      if (extendedL2) {
        slice.readPair(entryIndex * entryWords, pair);
        piece = extendedPiece(pair[0], pair[1], cursor, limit, l2Offset, l2Index, write);
      } else {
        piece = standardPiece(slice.word(entryIndex), cursor, Math.min(limit, clusterStart + clusterSize), l2Offset,
            l2Index, write);
      }
      if (first == null) {
        first = piece;
      } else if (!continues(first, piece)) {
        break;
      } else {
        first = new Run(first.kind(), first.guestOffset(), first.length() + piece.length(), first.hostOffset(), first.entry());
      }
      if (piece.kind() == L2Entry.Kind.COMPRESSED || piece.guestEnd() < Math.min(limit, clusterStart + clusterSize)) {
        break;
      }
      cursor = piece.guestEnd();
      entryIndex++;
      l2Index++;
    }
    return first;
  }

  private static boolean continues(Run run, Run next) {
    if (run.kind() != next.kind() || next.kind() == L2Entry.Kind.COMPRESSED) {
      return false;
    }
    return switch (run.kind()) {
      case DATA -> run.hostOffset() + run.length() == next.hostOffset()
          && L2Entry.copied(run.entry()) == L2Entry.copied(next.entry());
      case ZERO -> (run.hostOffset() == Run.NO_HOST) == (next.hostOffset() == Run.NO_HOST)
          && (run.hostOffset() == Run.NO_HOST || run.hostOffset() + run.length() == next.hostOffset());
      case UNALLOCATED -> (run.hostOffset() == Run.NO_HOST) == (next.hostOffset() == Run.NO_HOST)
          && (run.hostOffset() == Run.NO_HOST || run.hostOffset() + run.length() == next.hostOffset());
      default -> true;
    };
  }

  private Run standardPiece(long entry, long cursor, long end, long l2Offset, int l2Index, boolean write)
      throws IOException {
    if (!zeroFlagValid && (entry & L2Entry.ZERO) != 0 && !L2Entry.compressed(entry)) {
      throw corrupt(l2Offset, l2Index, "zero flag set in a version 2 image");
    }
    L2Entry.Kind kind = L2Entry.kind(entry, hostOffsetZeroValid);
    long inCluster = cursor & (clusterSize - 1);
    return switch (kind) {
      case UNALLOCATED -> new Run(kind, cursor, end - cursor, Run.NO_HOST, entry);
      case COMPRESSED -> new Run(kind, cursor, end - cursor, Run.NO_HOST, entry);
      case ZERO -> {
        long host = L2Entry.hasHostCluster(entry, hostOffsetZeroValid)
            ? checkedHost(entry, l2Offset, l2Index, cursor, write) + inCluster : Run.NO_HOST;
        yield new Run(kind, cursor, end - cursor, host, entry);
      }
      case DATA -> new Run(kind, cursor, end - cursor, checkedHost(entry, l2Offset, l2Index, cursor, write) + inCluster,
          entry);
    };
  }

  private Run extendedPiece(long entry, long bitmap, long cursor, long limit, long l2Offset, int l2Index,
      boolean write) throws IOException {
    long clusterStart = cursor & ~(clusterSize - 1L);
    long clusterEnd = Math.min(limit, clusterStart + clusterSize);
    if (L2Entry.compressed(entry)) {
      // QEMU ignores the bitmap of a compressed cluster (check reports it)
      return new Run(L2Entry.Kind.COMPRESSED, cursor, clusterEnd - cursor, Run.NO_HOST, entry);
    }
    boolean hasHost = L2Entry.hostOffset(entry) != 0 || (hostOffsetZeroValid && L2Entry.copied(entry));
    checkBitmap(hasHost, bitmap, l2Offset, l2Index, write);
    int subclusterBits = clusterBits - 5;
    int first = (int) ((cursor - clusterStart) >>> subclusterBits);
    L2Entry.Kind kind = L2Entry.subclusterKind(bitmap, first);
    long end = clusterStart + ((long) (first + 1) << subclusterBits);
    for (int index = first + 1; index < L2Entry.SUBCLUSTERS && end < clusterEnd; index++) {
      if (L2Entry.subclusterKind(bitmap, index) != kind) {
        break;
      }
      end += 1L << subclusterBits;
    }
    end = Math.min(end, clusterEnd);
    // unallocated subclusters keep the cluster's host offset: QEMU reports it (UNALLOCATED_ALLOC)
    long host = hasHost ? checkedHost(entry, l2Offset, l2Index, cursor, write) + (cursor - clusterStart) : Run.NO_HOST;
    return new Run(kind, cursor, end - cursor, host, entry);
  }

  /**
   * QEMU's QCOW2_SUBCLUSTER_INVALID, which makes the whole cluster invalid: a subcluster both
   * allocated and zero in a cluster with a host offset, or an allocated one in a cluster without.
   * Reported with QEMU's event for it ("Invalid cluster entry found", whose read-path text has two
   * spaces before the parenthesis, and the write path's one).
   */
  void checkBitmap(boolean hasHost, long bitmap, long l2Offset, int l2Index, boolean write)
      throws CorruptImageException {
    long allocated = bitmap & L2Entry.ALL_ALLOCATED;
    long both = (bitmap >>> 32) & allocated;
    String what;
    if (hasHost && both != 0) {
      what = "subcluster " + Long.numberOfTrailingZeros(both) + " is marked both allocated and zero";
    } else if (!hasHost && allocated != 0) {
      what = "subcluster " + Long.numberOfTrailingZeros(allocated) + " is allocated but the cluster has no host offset";
    } else {
      return;
    }
    throw CorruptImageException.withEvent(corrupt(l2Offset, l2Index, what).getMessage(),
        "Invalid cluster entry found" + (write ? " " : "  ") + "(L2 offset: " + hex(l2Offset) + ", L2 index: "
            + hex(l2Index) + ")");
  }

  /**
   * Refuses, for a write, an extended entry QEMU's write path finds invalid (calculate_l2_meta
   * checks every cluster a write covers), with its corruption event. Caller holds the lock.
   */
  void checkForWrite(long guestOffset, long entry, long bitmap) throws IOException {
    if (!extendedL2 || L2Entry.compressed(entry)) {
      return;
    }
    long l1Index = guestOffset >>> (clusterBits + l2Bits);
    long l2Offset = l2OffsetAt(l1Index);
    int l2Index = (int) ((guestOffset >>> clusterBits) & ((1 << l2Bits) - 1));
    boolean hasHost = L2Entry.hostOffset(entry) != 0 || (hostOffsetZeroValid && L2Entry.copied(entry));
    checkBitmap(hasHost, bitmap, l2Offset, l2Index, true);
  }

  /** A number as C's %#x prints it: 0, or 0x and lower-case hex digits. */
  static String hex(long value) {
    return value == 0 ? "0" : "0x" + Long.toHexString(value);
  }

  /**
   * The host offset of {@code entry}, the L2 entry of the cluster at {@code guestOffset} (whose
   * table is loaded), refused as a read refuses it: unaligned, with QEMU's corruption event.
   */
  long checkedHostOf(long guestOffset, long entry) throws IOException {
    long l1Index = guestOffset >>> (clusterBits + l2Bits);
    int l2Index = (int) ((guestOffset >>> clusterBits) & ((1 << l2Bits) - 1));
    return checkedHost(entry, l2OffsetAt(l1Index), l2Index, guestOffset, false);
  }

  private long checkedHost(long entry, long l2Offset, int l2Index, long guestOffset, boolean write)
      throws IOException {
    long host = L2Entry.hostOffset(entry);
    if ((host & (clusterSize - 1)) != 0) {
      String message = corrupt(l2Offset, l2Index, String.format("host cluster offset 0x%x is not aligned to a cluster",
          host)).getMessage();
      // QEMU's events: handle_copied's for a write in place, qcow2_get_host_offset's otherwise
      String event = write && L2Entry.copied(entry)
          ? String.format("%s cluster offset %s unaligned (guest offset: %s)",
              (entry & L2Entry.ZERO) != 0 ? "Preallocated zero" : "Data", hex(host),
              hex(guestOffset))
          : String.format("Cluster allocation offset %s unaligned (L2 offset: %s, L2 index: %s)", hex(host),
              hex(l2Offset), hex(l2Index));
      throw CorruptImageException.withEvent(message, event);
    }
    long guestCluster = guestOffset & ~(clusterSize - 1L);
    if (hostOffsetZeroValid && host != guestCluster) {
      // An external data file maps every guest cluster to the same offset (as QEMU requires).
      throw corrupt(l2Offset, l2Index, String.format(
          "external data file host cluster offset 0x%x does not match guest cluster offset 0x%x", host, guestCluster));
    }
    return host;
  }

  private void checkL2Offset(long l2Offset, long l1Index) throws IOException {
    if ((l2Offset & (clusterSize - 1)) != 0) {
      throw CorruptImageException.withEvent(String.format(
          "%s: L1 entry %d points at L2 table offset 0x%x, not aligned to a cluster", name, l1Index, l2Offset),
          "L2 table offset " + hex(l2Offset) + " unaligned (L1 index: " + hex(l1Index) + ")");
    }
  }

  private L2Cache.Slice slice(long sliceOffset) throws IOException {
    L2Cache.Slice cached = cache.get(sliceOffset);
    if (cached != null) {
      return cached;
    }
    // A table written while this read was under way may have been read half old: such a copy serves
    // this lookup only, and is never cached where a writer would store into it.
    long generation = cache.generation();
    ByteBuffer bytes = ByteBuffer.allocate(sliceEntries * 8 * entryWords);
    // Tables made in memory are cached until written, so a slice read from the file must lie inside it.
    long tableOffset = sliceOffset & ~(clusterSize - 1L);
    // Reads need neither refcounts nor a table of their own: a table two L1 entries share, or one a
    // refcount-table entry also claims (which pointer is damaged, nothing tells), is read; writes
    // to it are refused (writableSlot, Refcounts).
    guard.check(tableOffset, clusterSize, OverlapGuard.FOUND_THROUGH_POINTERS, 0, "L2 table read");
    if (tableOffset + clusterSize > fileSize.atLeast(tableOffset + clusterSize)) {
      throw new CorruptImageException(String.format(
          "%s: L2 table at host offset 0x%x (from the L1 table) lies past the end of the image", name, tableOffset));
    }
    storage.debugEvent("l2_load");
    storage.readFully(bytes, sliceOffset);
    long[] words = new long[sliceEntries * entryWords];
    LongBuffer view = bytes.flip().asLongBuffer();
    view.get(words);
    L2Cache.Slice loaded = new L2Cache.Slice(sliceOffset, words);
    return cache.putIfCurrent(loaded, generation);
  }

  /** Where one L2 entry lives: its slice and the index of its first word there. */
  record Slot(L2Cache.Slice slice, int word) {}

  /** A dirty slice's words as a flush took them. */
  record SliceImage(L2Cache.Slice slice, long[] words) {}

  /** What one flush writes of the L2 side: slice images, then the L1 table when it changed. */
  record DirtyTables(List<SliceImage> slices, long[] l1, java.util.Set<Long> newTables) {
    boolean isEmpty() {
      return slices.isEmpty() && l1 == null;
    }
  }

  /** The current L1 table (the caller must not change it). */
  long[] l1() {
    return l1;
  }

  /** The L2 table offset of the L1 entry at {@code l1Index}, refusing an entry with reserved bits set. */
  private long l2OffsetAt(long l1Index) throws CorruptImageException {
    long entry = l1Entry(l1Index);
    if ((entry & L1Entry.RESERVED_MASK) != 0) {
      throw new CorruptImageException(String.format("%s: L1 entry %d (0x%x) has reserved bits set (0x%x)",
          name, l1Index, entry, entry & L1Entry.RESERVED_MASK));
    }
    return L1Entry.l2Offset(entry);
  }

  /** The L1 entry at {@code l1Index}, 0 past the table's end. */
  long l1Entry(long l1Index) {
    long[] table = l1;
    return l1Index < table.length ? (long) L1_ENTRIES.getAcquire(table, (int) l1Index) : 0;
  }

  /** Replaces the L1 table (after a resize moved or grew it). */
  void replaceL1(long[] table) {
    l1 = table;
  }

  /**
   * Records where the L1 table lies and which of its entries lie in another structure (a hostile
   * l1_size); those entries are refused, naming the structure, wherever they are used.
   */
  void placeL1(long offset) {
    l1Offset = offset;
    long overlap = guard.firstOverlap(offset, l1.length * 8L,
        OverlapGuard.Structure.ACTIVE_L1.bit() | OverlapGuard.FOUND_THROUGH_POINTERS);
    firstOverlappingL1Index = overlap < 0 ? Long.MAX_VALUE : (overlap - offset) / 8;
    java.util.Map<Long, Long> owners = new java.util.HashMap<>();
    java.util.Set<Long> sharing = new java.util.HashSet<>();
    long[] table = l1;
    for (int index = 0; index < table.length; index++) {
      long l2Offset = L1Entry.l2Offset(table[index]);
      if (l2Offset != 0 && owners.putIfAbsent(l2Offset, (long) index) != null) {
        sharing.add((long) index);
      }
    }
    sharingL1Entries = sharing.isEmpty() ? null : sharing;
  }

  private void checkL1Place(long l1Index) throws CorruptImageException {
    java.util.Set<Long> sharing = sharingL1Entries;
    if (sharing != null && sharing.contains(l1Index)) {
      long l2Offset = L1Entry.l2Offset(l1Entry(l1Index));
      throw new CorruptImageException(String.format(
          "%s: preventing invalid use of L1 entry %d: its L2 table at host offset 0x%x overlaps with active L2 table of an"
              + " earlier L1 entry", name, l1Index, l2Offset));
    }
    if (l1Index >= firstOverlappingL1Index) {
      guard.check(l1Offset + l1Index * 8, 8, OverlapGuard.Structure.ACTIVE_L1.bit() | OverlapGuard.FOUND_THROUGH_POINTERS, 0,
          "use of L1 entry " + l1Index);
    }
  }

  /** The words of the L2 entry for the cluster at {@code guestOffset}: {entry, bitmap}; zeros without an L2 table. */
  long[] entryWords(long guestOffset) throws IOException {
    long l1Index = guestOffset >>> (clusterBits + l2Bits);
    checkL1Place(l1Index);
    long l2Offset = l2OffsetAt(l1Index);
    long[] words = new long[2];
    if (l2Offset == 0) {
      return words;
    }
    checkL2Offset(l2Offset, l1Index);
    Slot slot = slotIn(l2Offset, guestOffset);
    if (extendedL2) {
      slot.slice().readPair(slot.word(), words);
    } else {
      words[0] = slot.slice().word(slot.word());
    }
    return words;
  }

  /**
   * The slot of the L2 entry for {@code guestOffset} in a table this image owns alone, allocating a
   * new table or copying one shared with snapshots first. Caller holds the metadata lock.
   */
  Slot writableSlot(long guestOffset, Refcounts refcounts) throws IOException {
    long l1Index = guestOffset >>> (clusterBits + l2Bits);
    checkL1Place(l1Index);
    long[] table = l1;
    long l1Entry = table[(int) l1Index];
    long l2Offset = l2OffsetAt(l1Index);
    if (l2Offset != 0) {
      checkL2Offset(l2Offset, l1Index);
    }
    if (l2Offset != 0 && L1Entry.copied(l1Entry)) {
      guard.check(l2Offset, clusterSize, OverlapGuard.Structure.ACTIVE_L2.bit(), refcounts.ownedEnd(),
          "L2 table update (L1 entry " + l1Index + ")");
      return slotIn(l2Offset, guestOffset);
    }
    if (l2Offset != 0) {
      // The shared table is copied and this image's reference to it dropped: it must be an L2 table.
      guard.check(l2Offset, clusterSize, OverlapGuard.Structure.ACTIVE_L2.bit() | OverlapGuard.Structure.INACTIVE_L2.bit(),
          refcounts.ownedEnd(), "copy of an L2 table (L1 entry " + l1Index + ")");
    }
    long newOffset = refcounts.allocate(1, "L2 table");
    try {
      guard.refuseWhileUncheckable();
    } catch (IOException e) {
      // QEMU's l2_allocate: the refcount flush after the allocation fails its overlap check, and
      // the cluster is freed again, the refcount block left dirty
      refcounts.freeLater(newOffset, clusterSize);
      throw e;
    }
    int sliceBytes = sliceEntries * 8 * entryWords;
    for (int sliceStart = 0; sliceStart < clusterSize; sliceStart += sliceBytes) {
      long[] words = l2Offset == 0 ? new long[sliceEntries * entryWords] : slice(l2Offset + sliceStart).copy();
      L2Cache.Slice fresh = new L2Cache.Slice(newOffset + sliceStart, words);
      fresh.dirty = true;
      cache.install(fresh);
      dirtySlices.put(fresh.hostOffset, fresh);
    }
    dirtySliceCount = dirtySlices.size();
    newTables.add(newOffset);
    if (l2Offset != 0) {
      // The old table stays a snapshot's: only this image's reference to it goes.
      refcounts.freeLater(l2Offset, clusterSize);
      guard.remove(OverlapGuard.Structure.ACTIVE_L2, l2Offset, clusterSize);
    }
    guard.add(OverlapGuard.Structure.ACTIVE_L2, newOffset, clusterSize);
    // Published after its slices are cached, so a reader that sees the entry finds them.
    L1_ENTRIES.setRelease(table, (int) l1Index, L1Entry.of(newOffset, true));
    l1Dirty = true;
    return slotIn(newOffset, guestOffset);
  }

  /** Stores an L2 entry (and bitmap, with extended L2) in its slot; it reaches the file at the next flush. */
  void store(Slot slot, long entry, long bitmap) {
    L2Cache.Slice slice = slot.slice();
    slice.store(slot.word(), entry, bitmap, extendedL2);
    slice.dirty = true;
    if (dirtySlices.put(slice.hostOffset, slice) == null) {
      dirtySliceCount = dirtySlices.size();
    }
    // The slice may have been evicted since it was looked up: a dirty slice must be the cached one,
    // or the next lookup reads the stale table from the file.
    cache.reinstate(slice);
  }

  /** Whether an L2 slice or the L1 table waits to be written (caller holds the metadata lock). */
  boolean hasDirtyTables() {
    return !dirtySlices.isEmpty() || l1Dirty;
  }

  /** How many slices wait to be written (read without the lock: a hint for when to flush). */
  int dirtySliceCount() {
    return dirtySliceCount;
  }

  /** How many slices the cache holds. */
  int cacheCapacity() {
    return cache.capacity();
  }

  /**
   * Hands the dirty slices and L1 table to a flush: their words as they are now, which the flush
   * writes while writers go on changing the live copies (those become dirty again). Caller holds
   * the metadata lock; the slices stay cached until {@link #written}.
   */
  DirtyTables takeDirty() {
    List<SliceImage> images = new ArrayList<>(dirtySlices.size());
    for (L2Cache.Slice slice : dirtySlices.values()) {
      slice.flushing = true;
      slice.dirty = false;
      images.add(new SliceImage(slice, slice.copy()));
    }
    dirtySlices.clear();
    dirtySliceCount = 0;
    long[] l1Image = null;
    if (l1Dirty) {
      l1Image = l1.clone();
      l1Dirty = false;
    }
    java.util.Set<Long> made = new java.util.HashSet<>(newTables);
    newTables.clear();
    return new DirtyTables(images, l1Image, made);
  }

  /** Writes the slice images of a flush (the caller adds the barriers around). */
  void writeSlices(DirtyTables tables) throws IOException {
    if (!tables.slices().isEmpty()) {
      guard.refuseWhileUncheckable();
    }
    for (SliceImage image : tables.slices()) {
      ByteBuffer bytes = ByteBuffer.allocate(image.words().length * 8);
      bytes.asLongBuffer().put(image.words());
      long hostOffset = image.slice().hostOffset;
      if (hostOffset % clusterSize == 0 && tables.newTables().contains(hostOffset)) {
        storage.debugEvent("l2_alloc_write");
      }
      storage.debugEvent("l2_update");
      storage.write(bytes, image.slice().hostOffset);
      // Readers that read the table before this write must not cache what they read.
      cache.advanceGeneration();
    }
  }

  /** Writes the L1 image of a flush at {@code l1Offset}, if it has one. */
  void writeL1(DirtyTables tables, long l1Offset) throws IOException {
    if (tables.l1() == null) {
      return;
    }
    guard.refuseWhileUncheckable();
    ByteBuffer bytes = ByteBuffer.allocate(tables.l1().length * 8);
    bytes.asLongBuffer().put(tables.l1());
    storage.debugEvent("l1_update");
    storage.write(bytes, l1Offset);
  }

  /** Ends a flush's hold on its slices: written ones may be evicted now. */
  void written(DirtyTables tables) {
    for (SliceImage image : tables.slices()) {
      image.slice().flushing = false;
    }
  }

  /** Takes a failed flush's tables back as dirty, so the next flush writes them. Caller holds the metadata lock. */
  void restoreDirty(DirtyTables tables) {
    for (SliceImage image : tables.slices()) {
      image.slice().dirty = true;
      image.slice().flushing = false;
      dirtySlices.put(image.slice().hostOffset, image.slice());
      cache.reinstate(image.slice());
    }
    dirtySliceCount = dirtySlices.size();
    if (tables.l1() != null) {
      l1Dirty = true;
    }
    newTables.addAll(tables.newTables());
  }

  /** Forgets every cached slice (the active tree changed wholesale); nothing may be dirty. */
  void clearCache() {
    cache.clear();
  }

  /** Forgets cached slices of the table at {@code l2Offset} (it is no longer this image's). */
  void forgetTable(long l2Offset) {
    for (long sliceOffset = 0; sliceOffset < clusterSize; sliceOffset += (long) sliceEntries * 8 * entryWords) {
      cache.invalidate(l2Offset + sliceOffset);
    }
  }

  private Slot slotIn(long l2Offset, long guestOffset) throws IOException {
    int l2Index = (int) ((guestOffset >>> clusterBits) & ((1 << l2Bits) - 1));
    int sliceIndex = l2Index / sliceEntries;
    L2Cache.Slice slice = slice(l2Offset + (long) sliceIndex * sliceEntries * 8 * entryWords);
    return new Slot(slice, (l2Index - sliceIndex * sliceEntries) * entryWords);
  }

  private CorruptImageException corrupt(long l2Offset, int l2Index, String what) {
    return new CorruptImageException(String.format("%s: L2 table at offset 0x%x, entry %d (offset 0x%x): %s",
        name, l2Offset, l2Index, l2Offset + (long) l2Index * 8 * entryWords, what));
  }
}
