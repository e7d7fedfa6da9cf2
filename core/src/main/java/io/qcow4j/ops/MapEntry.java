package io.qcow4j.ops;

/**
 * One row of qemu-img map: a guest range with uniform allocation status, merged with its
 * neighbours as qemu-img merges them. {@code offset} is the host offset in {@code filename}, or -1
 * when there is none (unallocated, zero clusters without host space, compressed clusters), and
 * {@code filename} is null exactly then.
 */
public record MapEntry(
    long start, long length, int depth, boolean present, boolean zero, boolean data, long offset, String filename) {

  /** Whether the range has a host offset (qemu's OFFSET_VALID). */
  public boolean hasOffset() {
    return offset >= 0;
  }

  /** The guest offset just past this entry. */
  public long end() {
    return start + length;
  }

  /** Whether {@code next}, which starts where this one ends, continues it (qemu-img's entry_mergeable). */
  boolean mergeableWith(MapEntry next) {
    if (length == 0
        || zero != next.zero
        || data != next.data
        || present != next.present
        || depth != next.depth
        || hasOffset() != next.hasOffset()) {
      return false;
    }
    if (filename == null ? next.filename != null : !filename.equals(next.filename)) {
      return false;
    }
    return !hasOffset() || offset + length == next.offset;
  }

  MapEntry extendedBy(long extraLength) {
    return new MapEntry(start, length + extraLength, depth, present, zero, data, offset, filename);
  }
}
