package io.qcow4j.qcow2;

import io.qcow4j.disk.CorruptImageException;
import java.io.IOException;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which host clusters of the image file hold metadata, so that no data write, metadata write, free
 * or punch lands on a structure it does not own (invariant 8, QEMU's overlap check). The
 * overlap-check options choose the structures checked, QEMU's "cached" template by default (all
 * but the inactive L2 tables); the allocator never hands out a recorded cluster, checked or not.
 * Reads are lock-free; changes are made under the metadata lock.
 */
final class OverlapGuard {
  /** How QEMU's qcow2_pre_write_overlap_check words an overlap (the structure's name follows). */
  private static final String OVERLAP_EVENT = "Preventing invalid write on metadata (overlaps with ";

  /** The structures guarded, one bit each, named as QEMU's "overlaps with" messages name them. */
  enum Structure {
    HEADER("header", 0),
    ACTIVE_L1("active L1 table", 1),
    ACTIVE_L2("active L2 table", 2),
    REFCOUNT_TABLE("refcount table", 3),
    REFCOUNT_BLOCK("refcount block", 4),
    SNAPSHOT_TABLE("snapshot table", 5),
    INACTIVE_L1("inactive L1 table", 6),
    /** Recorded only while its check is on (QEMU reads the snapshots' L1 tables for it). */
    INACTIVE_L2("inactive L2 table", 7),
    BITMAP_DIRECTORY("bitmap directory", 8),
    BITMAP_TABLE("bitmap table", 8),
    /** A second L1 entry pointing at an active L2 table: a write through either would change both. */
    SHARED_L2("active L2 table", 2),
    /** A second refcount-table entry pointing at a refcount block. */
    SHARED_REFCOUNT_BLOCK("refcount block", 4);

    final String label;
    /** The bit of QEMU's overlap check (QCOW2_OL_*) that turns this structure's check on. */
    final int qemuBit;

    Structure(String label, int qemuBit) {
      this.label = label;
      this.qemuBit = qemuBit;
    }

    int bit() {
      return 1 << ordinal();
    }
  }

  /** No structure is exempt: the check for guest data. */
  static final int NONE = 0;
  /**
   * Exempt from the checks of reads and frees: the inactive L2 tables, which QEMU checks only
   * writes against (a snapshot's L2 table may be read as data through a damaged entry, and a
   * reference to it dropped, without harm).
   */
  static final int WRITES_ONLY = Structure.INACTIVE_L2.bit();
  /**
   * The structures found through pointers in other tables (L1 entries, refcount-table entries)
   * rather than through the header: a damaged pointer puts them anywhere, so they do not decide
   * whether a structure the header places is valid.
   */
  static final int FOUND_THROUGH_POINTERS = Structure.ACTIVE_L2.bit() | Structure.SHARED_L2.bit()
      | Structure.REFCOUNT_BLOCK.bit() | Structure.SHARED_REFCOUNT_BLOCK.bit() | Structure.INACTIVE_L2.bit();

  private final String name;
  private final int clusterBits;
  /** Host cluster index to the bits of the structures that lie (partly) in it. */
  private final ConcurrentHashMap<Long, Integer> clusters = new ConcurrentHashMap<>();
  /** The structures checked (our bits), as the overlap-check options choose them. */
  private final int checked;
  private final boolean inactiveL2Checked;
  /**
   * Why no write can be checked, or null: a snapshot's L1 table that QEMU's inactive L2 check
   * cannot read (qcow2_validate_table fails), which fails every checked write as QEMU's does.
   */
  private volatile IOException uncheckable;

  OverlapGuard(String name, int clusterBits) {
    this(name, clusterBits, 0x17F);
  }

  /** A guard making the checks of {@code qemuChecks}, QEMU's QCOW2_OL_* bits (overlap-check options). */
  OverlapGuard(String name, int clusterBits, int qemuChecks) {
    this.name = name;
    this.clusterBits = clusterBits;
    int bits = 0;
    for (Structure structure : Structure.values()) {
      if ((qemuChecks & (1 << structure.qemuBit)) != 0) {
        bits |= structure.bit();
      }
    }
    this.checked = bits;
    this.inactiveL2Checked = (qemuChecks & (1 << Structure.INACTIVE_L2.qemuBit)) != 0;
  }

  /** Whether the inactive L2 tables are checked (and so must be recorded). */
  boolean checksInactiveL2() {
    return inactiveL2Checked;
  }

  /** Records why no write can be checked now (null: they can again). */
  void uncheckable(IOException reason) {
    uncheckable = reason;
  }

  /**
   * Fails a write when the checks cannot be made (a snapshot L1 table the inactive L2 check cannot
   * read), as QEMU's qcow2_pre_write_overlap_check returns qcow2_validate_table's error; one
   * volatile read otherwise.
   */
  void refuseWhileUncheckable() throws IOException {
    IOException reason = uncheckable;
    if (reason != null) {
      throw new OverlapCheckFailedException(reason.getMessage(), reason instanceof io.qcow4j.disk.ImageLimitException);
    }
  }

  /** Records that {@code structure} occupies the host range. */
  void add(Structure structure, long hostOffset, long length) {
    forEachCluster(hostOffset, length, cluster -> clusters.merge(cluster, structure.bit(), (a, b) -> a | b));
  }

  /**
   * Records a structure that one pointer alone may own (an active L2 table, a refcount block): a
   * second pointer at the same cluster marks it shared, and writes through either are refused.
   */
  void addOwned(Structure structure, Structure shared, long hostOffset, long length) {
    forEachCluster(hostOffset, length, cluster -> clusters.merge(cluster, structure.bit(),
        (bits, added) -> (bits & structure.bit()) != 0 ? bits | shared.bit() : bits | added));
  }

  /** Whether any structure lies in the host range. */
  boolean holdsMetadata(long hostOffset, long length) {
    long first = hostOffset >>> clusterBits;
    long last = (hostOffset + length - 1) >>> clusterBits;
    for (long cluster = first; cluster <= last; cluster++) {
      if (clusters.containsKey(cluster)) {
        return true;
      }
    }
    return false;
  }

  /** The first host offset in the range where a structure other than those in {@code exempt} lies, or -1. */
  long firstOverlap(long hostOffset, long length, int exempt) {
    if (length <= 0) {
      return -1;
    }
    long first = hostOffset >>> clusterBits;
    long last = (hostOffset + length - 1) >>> clusterBits;
    for (long cluster = first; cluster <= last; cluster++) {
      Integer bits = clusters.get(cluster);
      if (bits != null && (bits & ~exempt) != 0) {
        return Math.max(hostOffset, cluster << clusterBits);
      }
    }
    return -1;
  }

  /** Records that {@code structure} no longer occupies the host range. */
  void remove(Structure structure, long hostOffset, long length) {
    forEachCluster(hostOffset, length,
        cluster -> clusters.computeIfPresent(cluster, (key, bits) -> (bits & ~structure.bit()) == 0 ? null : bits & ~structure.bit()));
  }

  /** Forgets every structure (before a rebuild). */
  void clear() {
    clusters.clear();
  }

  /**
   * Refuses a write (or free) of the host range when it overlaps a structure other than those in
   * {@code exempt}, or reaches past {@code ownedEnd} (when positive), the end of the clusters the
   * image owns.
   */
  void check(long hostOffset, long length, int exempt, long ownedEnd, String what) throws CorruptImageException {
    // ownedEnd - hostOffset cannot wrap where hostOffset + length could.
    if (hostOffset < 0 || length < 0 || (ownedEnd > 0 && length > ownedEnd - hostOffset)) {
      throw new CorruptImageException(String.format(
          "%s: preventing invalid %s at host offset 0x%x (%d bytes, host cluster 0x%x): past the end of the image (0x%x)",
          name, what, hostOffset, length, hostOffset & -(1L << clusterBits), ownedEnd));
    }
    if (length == 0 || clusters.isEmpty()) {
      return;
    }
    int considered = checked & ~exempt;
    long first = hostOffset >>> clusterBits;
    long last = (hostOffset + length - 1) >>> clusterBits;
    for (long cluster = first; cluster <= last; cluster++) {
      Integer bits = clusters.get(cluster);
      if (bits != null && (bits & considered) != 0) {
        String label = labelOf(bits & considered);
        throw CorruptImageException.withEvent(String.format(
            "%s: preventing invalid %s at host offset 0x%x (%d bytes): overlaps with %s at host cluster 0x%x",
            name, what, hostOffset, length, label, cluster << clusterBits),
            // QEMU's metadata_ol_names call the header "qcow2_header"
            OVERLAP_EVENT + (label.equals("header") ? "qcow2_header" : label)
                + ")");
      }
    }
  }

  private static String labelOf(int bits) {
    for (Structure structure : Structure.values()) {
      if ((bits & structure.bit()) != 0) {
        return structure.label;
      }
    }
    throw new IllegalArgumentException("no structure in " + bits);
  }

  private interface ClusterAction {
    void apply(long cluster);
  }

  private void forEachCluster(long hostOffset, long length, ClusterAction action) {
    if (length <= 0) {
      return;
    }
    long first = hostOffset >>> clusterBits;
    long last = (hostOffset + length - 1) >>> clusterBits;
    for (long cluster = first; cluster <= last; cluster++) {
      action.apply(cluster);
    }
  }

  /**
   * Whether {@code failure} is this guard's refusal, which QEMU has only on its write path: a read
   * that meets it is not one of the corruptions QEMU's read path signals.
   */
  static boolean isOverlap(CorruptImageException failure) {
    return failure.hasEvent() && failure.event().startsWith(OVERLAP_EVENT);
  }
}
