package io.qcow4j.qcow2;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.qcow2.format.L1Entry;
import io.qcow4j.qcow2.format.L2Entry;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.LongBuffer;

/**
 * Translates guest offsets to {@link Run}s through the L1 table and cached L2 slices, validating
 * every entry it uses against the format and the file's bounds.
 */
final class ClusterLookup {
  private final String name;
  private final Storage storage;
  private final int clusterBits;
  private final int clusterSize;
  private final boolean extendedL2;
  private final boolean hostOffsetZeroValid;
  private final int l2Bits;
  private final int entryWords;
  private final int sliceEntries;
  private final L2Cache cache;
  private final FileSize fileSize;
  private volatile long[] l1;
  /** Dirty slices by host offset; guarded by the image's metadata lock. */
  private final java.util.TreeMap<Long, L2Cache.Slice> dirtySlices = new java.util.TreeMap<>();
  private boolean l1Dirty;

  ClusterLookup(String name, Storage storage, int clusterBits, boolean extendedL2, boolean hasDataFile,
      long[] l1, long cacheBytes, FileSize fileSize) {
    this.name = name;
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
    long[] table = l1;
    long l1Index = guestOffset >>> (clusterBits + l2Bits);
    long tableEnd = (l1Index + 1) << (clusterBits + l2Bits);
    long limit = Math.min(guestOffset + maxLength, tableEnd);
    long l1Entry = l1Index < table.length ? table[(int) l1Index] : 0;
    long l2Offset = L1Entry.l2Offset(l1Entry);
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
    while (cursor < limit) {
      long entry = slice.words[entryIndex * entryWords];
      long clusterStart = cursor & ~(clusterSize - 1L);
      Run piece = extendedL2
          ? extendedPiece(entry, slice.words[entryIndex * entryWords + 1], cursor, limit, l2Offset, l2Index)
          : standardPiece(entry, cursor, Math.min(limit, clusterStart + clusterSize), l2Offset, l2Index);
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

  private Run standardPiece(long entry, long cursor, long end, long l2Offset, int l2Index) throws IOException {
    L2Entry.Kind kind = L2Entry.kind(entry, hostOffsetZeroValid);
    long inCluster = cursor & (clusterSize - 1);
    return switch (kind) {
      case UNALLOCATED -> new Run(kind, cursor, end - cursor, Run.NO_HOST, entry);
      case COMPRESSED -> new Run(kind, cursor, end - cursor, Run.NO_HOST, entry);
      case ZERO -> {
        long host = L2Entry.hasHostCluster(entry, hostOffsetZeroValid)
            ? checkedHost(entry, l2Offset, l2Index) + inCluster : Run.NO_HOST;
        yield new Run(kind, cursor, end - cursor, host, entry);
      }
      case DATA -> new Run(kind, cursor, end - cursor, checkedHost(entry, l2Offset, l2Index) + inCluster, entry);
    };
  }

  private Run extendedPiece(long entry, long bitmap, long cursor, long limit, long l2Offset, int l2Index)
      throws IOException {
    long clusterStart = cursor & ~(clusterSize - 1L);
    long clusterEnd = Math.min(limit, clusterStart + clusterSize);
    if (L2Entry.compressed(entry)) {
      if (bitmap != 0) {
        throw corrupt(l2Offset, l2Index, "compressed cluster has a non-zero subcluster bitmap");
      }
      return new Run(L2Entry.Kind.COMPRESSED, cursor, clusterEnd - cursor, Run.NO_HOST, entry);
    }
    int subclusterBits = clusterBits - 5;
    int first = (int) ((cursor - clusterStart) >>> subclusterBits);
    L2Entry.Kind kind = subclusterKind(bitmap, first, l2Offset, l2Index);
    long end = clusterStart + ((long) (first + 1) << subclusterBits);
    for (int index = first + 1; index < L2Entry.SUBCLUSTERS && end < clusterEnd; index++) {
      if (subclusterKind(bitmap, index, l2Offset, l2Index) != kind) {
        break;
      }
      end += 1L << subclusterBits;
    }
    end = Math.min(end, clusterEnd);
    boolean hasHost = L2Entry.hostOffset(entry) != 0 || (hostOffsetZeroValid && L2Entry.copied(entry));
    if (kind == L2Entry.Kind.DATA && !hasHost) {
      throw corrupt(l2Offset, l2Index, "subcluster " + first + " is allocated but the cluster has no host offset");
    }
    // unallocated subclusters keep the cluster's host offset: QEMU reports it (UNALLOCATED_ALLOC)
    long host = hasHost ? checkedHost(entry, l2Offset, l2Index) + (cursor - clusterStart) : Run.NO_HOST;
    return new Run(kind, cursor, end - cursor, host, entry);
  }

  private L2Entry.Kind subclusterKind(long bitmap, int index, long l2Offset, int l2Index) throws CorruptImageException {
    L2Entry.Kind kind = L2Entry.subclusterKind(bitmap, index);
    if (kind == null) {
      throw corrupt(l2Offset, l2Index, "subcluster " + index + " is marked both allocated and zero");
    }
    return kind;
  }

  private long checkedHost(long entry, long l2Offset, int l2Index) throws IOException {
    long host = L2Entry.hostOffset(entry);
    if ((host & (clusterSize - 1)) != 0) {
      throw corrupt(l2Offset, l2Index, String.format("host cluster offset 0x%x is not aligned to a cluster", host));
    }
    return host;
  }

  private void checkL2Offset(long l2Offset, long l1Index) throws IOException {
    if ((l2Offset & (clusterSize - 1)) != 0) {
      throw new CorruptImageException(String.format("%s: L1 entry %d points at L2 table offset 0x%x, not aligned to a cluster",
          name, l1Index, l2Offset));
    }
  }

  private L2Cache.Slice slice(long sliceOffset) throws IOException {
    L2Cache.Slice cached = cache.get(sliceOffset);
    if (cached != null) {
      return cached;
    }
    ByteBuffer bytes = ByteBuffer.allocate(sliceEntries * 8 * entryWords);
    // Tables made in memory are cached until written, so a slice read from the file must lie inside it.
    long tableOffset = sliceOffset & ~(clusterSize - 1L);
    if (tableOffset + clusterSize > fileSize.atLeast(tableOffset + clusterSize)) {
      throw new CorruptImageException(String.format("%s: L2 table offset 0x%x (from the L1 table) lies past the end of the file",
          name, tableOffset));
    }
    storage.readFully(bytes, sliceOffset);
    long[] words = new long[sliceEntries * entryWords];
    LongBuffer view = bytes.flip().asLongBuffer();
    view.get(words);
    return cache.put(new L2Cache.Slice(sliceOffset, words));
  }

  /** Where one L2 entry lives: its slice and the index of its first word there. */
  record Slot(L2Cache.Slice slice, int word) {
    long entry() {
      return slice.words[word];
    }

    long bitmap() {
      return slice.words[word + 1];
    }
  }

  /** The current L1 table (the caller must not change it). */
  long[] l1() {
    return l1;
  }

  /** Replaces the L1 table (after a resize moved or grew it). */
  void replaceL1(long[] table) {
    l1 = table;
  }

  /** The words of the L2 entry for the cluster at {@code guestOffset}: {entry, bitmap}; zeros without an L2 table. */
  long[] entryWords(long guestOffset) throws IOException {
    long l1Index = guestOffset >>> (clusterBits + l2Bits);
    long[] table = l1;
    long l2Offset = l1Index < table.length ? L1Entry.l2Offset(table[(int) l1Index]) : 0;
    if (l2Offset == 0) {
      return new long[2];
    }
    checkL2Offset(l2Offset, l1Index);
    Slot slot = slotIn(l2Offset, guestOffset);
    return new long[] {slot.entry(), extendedL2 ? slot.bitmap() : 0};
  }

  /**
   * The slot of the L2 entry for {@code guestOffset} in a table this image owns alone, allocating a
   * new table or copying one shared with snapshots first. Caller holds the metadata lock.
   */
  Slot writableSlot(long guestOffset, Refcounts refcounts) throws IOException {
    long l1Index = guestOffset >>> (clusterBits + l2Bits);
    long[] table = l1;
    long l1Entry = table[(int) l1Index];
    long l2Offset = L1Entry.l2Offset(l1Entry);
    if (l2Offset != 0) {
      checkL2Offset(l2Offset, l1Index);
    }
    if (l2Offset == 0 || !L1Entry.copied(l1Entry)) {
      long newOffset = refcounts.allocate(1);
      int slicesPerTable = clusterSize / (sliceEntries * 8 * entryWords);
      for (int index = 0; index < slicesPerTable; index++) {
        long sliceOffset = (long) index * sliceEntries * 8 * entryWords;
        long[] words = l2Offset == 0 ? new long[sliceEntries * entryWords] : slice(l2Offset + sliceOffset).words.clone();
        L2Cache.Slice fresh = new L2Cache.Slice(newOffset + sliceOffset, words);
        fresh.dirty = true;
        cache.install(fresh);
        dirtySlices.put(fresh.hostOffset, fresh);
      }
      if (l2Offset != 0) {
        refcounts.freeLater(l2Offset, clusterSize);
      }
      table[(int) l1Index] = L1Entry.of(newOffset, true);
      l1Dirty = true;
      l2Offset = newOffset;
    }
    return slotIn(l2Offset, guestOffset);
  }

  /** Stores an L2 entry (and bitmap, with extended L2) in its slot; it reaches the file at the next flush. */
  void store(Slot slot, long entry, long bitmap) {
    if (extendedL2) {
      slot.slice.words[slot.word + 1] = bitmap;
    }
    slot.slice.words[slot.word] = entry;
    slot.slice.dirty = true;
    dirtySlices.put(slot.slice.hostOffset, slot.slice);
    // The slice may have been evicted since it was looked up (even by the very put that cached it);
    // a dirty slice must be the cached one, or the next lookup reads the stale table from the file.
    if (cache.get(slot.slice.hostOffset) != slot.slice) {
      cache.install(slot.slice);
    }
  }

  /** How many slices wait to be written. */
  int dirtySliceCount() {
    return dirtySlices.size();
  }

  /** How many slices the cache holds. */
  int cacheCapacity() {
    return cache.capacity();
  }

  /** Whether L2 slices wait to be written. */
  boolean hasDirtySlices() {
    return !dirtySlices.isEmpty();
  }

  /** Writes every dirty slice (the caller adds the barrier before and after). */
  void writeDirtySlices() throws IOException {
    for (L2Cache.Slice slice : dirtySlices.values()) {
      ByteBuffer bytes = ByteBuffer.allocate(slice.words.length * 8);
      bytes.asLongBuffer().put(slice.words);
      storage.write(bytes, slice.hostOffset);
      slice.dirty = false;
    }
    dirtySlices.clear();
  }

  boolean isL1Dirty() {
    return l1Dirty;
  }

  /** Writes the L1 table at {@code l1Offset} if it changed. */
  void writeL1(long l1Offset) throws IOException {
    if (!l1Dirty) {
      return;
    }
    long[] table = l1;
    ByteBuffer bytes = ByteBuffer.allocate(table.length * 8);
    bytes.asLongBuffer().put(table);
    storage.write(bytes, l1Offset);
    l1Dirty = false;
  }

  /** Marks the whole L1 table as needing a write (it moved). */
  void markL1Dirty() {
    l1Dirty = true;
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
