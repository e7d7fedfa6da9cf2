package io.qcow4j.nbd;

import io.qcow4j.nbd.testkit.GuestContent;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * The shadow copy of a disk: what each 512-byte sector must read as (0 for zeros, else the sequence
 * number of its tag). A trimmed sector may read as zeros, its old data or the backing file's data
 * until it is read: what a read finds is then pinned, it must not change by itself.
 */
final class SectorShadow {
  private final long[] values;
  /** The request that last changed each sector, for reports. */
  private final String[] changedBy;
  private final GuestContent backing;
  /** The values a trimmed sector not read since may hold. */
  private final Map<Integer, Set<Long>> trimmed = new HashMap<>();

  SectorShadow(GuestContent initial, GuestContent backing) {
    this.values = new long[initial.sectorCount()];
    this.changedBy = new String[values.length];
    for (int sector = 0; sector < values.length; sector++) {
      values[sector] = initial.seq(sector);
    }
    this.backing = backing;
  }

  int sectorCount() {
    return values.length;
  }

  synchronized void write(int sector, long seq, String by) {
    trimmed.remove(sector);
    values[sector] = seq;
    changedBy[sector] = by;
  }

  synchronized void zero(int sector, String by) {
    trimmed.remove(sector);
    values[sector] = 0;
    changedBy[sector] = by;
  }

  synchronized void trim(int sector, String by) {
    changedBy[sector] = by;
    Set<Long> candidates = trimmed.computeIfAbsent(sector, key -> new LinkedHashSet<>());
    candidates.add(values[sector]);
    candidates.add(0L);
    candidates.add(backing.seq(sector));
  }

  /** Checks what a read found ({@code -1} for anything but zeros or the sector's own tag): null if allowed, else why not. */
  synchronized String observe(int sector, long found) {
    Set<Long> candidates = trimmed.get(sector);
    String last = " (last changed by " + (changedBy[sector] == null ? "nothing: initial content" : changedBy[sector])
        + ")";
    if (candidates == null) {
      return found == values[sector] ? null : "expected " + describe(values[sector]) + last;
    }
    if (!candidates.contains(found)) {
      return "expected, after a trim, one of " + candidates.stream().map(SectorShadow::describe).toList() + last;
    }
    trimmed.remove(sector);
    values[sector] = found;
    return null;
  }

  static String describe(long value) {
    return value == 0 ? "zeros" : value < 0 ? "no tag of this sector" : "seq " + value;
  }
}
