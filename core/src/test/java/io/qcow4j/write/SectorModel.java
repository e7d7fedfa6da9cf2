package io.qcow4j.write;

import io.qcow4j.write.OperationLog.Force;
import io.qcow4j.write.OperationLog.Operation;
import java.util.ArrayList;
import java.util.List;

/**
 * What each 512-byte sector may read as, given concurrent operations and the forces that completed:
 * its newest value that a completed force made durable (an operation that returned before that
 * force began, not followed on that sector by another such operation), or the value of any
 * operation not covered that had started by the cut; never data tagged for another sector, never a
 * torn sector, never a value that was overwritten before a completed force.
 */
final class SectorModel {
  /** No power cut: every operation returned and counts as durable. */
  static final long NO_CUT = Long.MAX_VALUE;

  private final long[] initial;
  private final List<Operation>[] bySector;
  private final List<Force> forces;

  @SuppressWarnings("unchecked")
  SectorModel(long[] initial, List<Operation> operations, List<Force> forces) {
    this.initial = initial.clone();
    this.forces = List.copyOf(forces);
    this.bySector = new List[initial.length];
    for (Operation operation : operations) {
      long first = operation.offset() / SectorTag.SECTOR;
      long end = (operation.offset() + operation.length() + SectorTag.SECTOR - 1) / SectorTag.SECTOR;
      for (long sector = first; sector < end && sector < initial.length; sector++) {
        if (bySector[(int) sector] == null) {
          bySector[(int) sector] = new ArrayList<>(2);
        }
        bySector[(int) sector].add(operation);
      }
    }
  }

  /** The newest force that returned before event {@code cut}, or null. */
  Force lastForceBefore(long cut) {
    Force newest = null;
    for (Force force : forces) {
      if (force.endEvent() <= cut && (newest == null || force.startSequence() > newest.startSequence())) {
        newest = force;
      }
    }
    return newest;
  }

  /**
   * The sectors of {@code content} (the whole disk, from guest offset 0) that break the model at a
   * power cut before storage event {@code cut} (or {@link #NO_CUT}); a description of each of the
   * first {@code limit}, then a summary of the rest. Empty when all is well.
   */
  List<String> violations(byte[] content, long cut, int limit) {
    long durable;
    if (cut == NO_CUT) {
      durable = Long.MAX_VALUE;
    } else {
      Force force = lastForceBefore(cut);
      durable = force == null ? Long.MIN_VALUE : force.startSequence();
    }
    List<String> found = new ArrayList<>();
    int count = 0;
    long firstBad = -1;
    long lastBad = -1;
    for (int sector = 0; sector < initial.length && (sector + 1) * SectorTag.SECTOR <= content.length; sector++) {
      SectorTag.Reading reading = SectorTag.read(content, sector * SectorTag.SECTOR);
      Allowed allowed = allowed(sector, durable, cut);
      if (allowed.accepts(sector, reading)) {
        continue;
      }
      count++;
      firstBad = firstBad < 0 ? sector : firstBad;
      lastBad = sector;
      if (found.size() < limit) {
        found.add(describe(sector, reading, allowed, durable));
      }
    }
    if (count > found.size()) {
      found.add((count - found.size()) + " more sectors break the model; the bad sectors span guest offsets "
          + firstBad * SectorTag.SECTOR + ".." + (lastBad + 1) * SectorTag.SECTOR);
    }
    return found;
  }

  /** The values a sector may hold: whether zeros, and which sequence numbers of data. */
  private record Allowed(boolean zeros, List<Long> sequences, List<Operation> covered, List<Operation> pending) {
    boolean accepts(int sector, SectorTag.Reading reading) {
      return switch (reading.kind()) {
        case ZERO -> zeros;
        case TAGGED -> reading.sector() == sector && sequences.contains(reading.sequence());
        case GARBAGE -> false;
      };
    }
  }

  private Allowed allowed(int sector, long durable, long cut) {
    List<Operation> operations = bySector[sector] == null ? List.of() : bySector[sector];
    long newestCoveredStart = Long.MIN_VALUE;
    for (Operation operation : operations) {
      if (changesContent(operation) && operation.endSequence() < durable) {
        newestCoveredStart = Math.max(newestCoveredStart, operation.startSequence());
      }
    }
    boolean zeros = false;
    List<Long> sequences = new ArrayList<>(2);
    List<Operation> covered = new ArrayList<>(2);
    List<Operation> pending = new ArrayList<>(2);
    if (newestCoveredStart == Long.MIN_VALUE) {
      if (initial[sector] == 0) {
        zeros = true;
      } else {
        sequences.add(initial[sector]);
      }
    }
    for (Operation operation : operations) {
      if (!changesContent(operation)) {
        continue;
      }
      boolean isCovered = operation.endSequence() < durable;
      if (isCovered && operation.endSequence() < newestCoveredStart) {
        continue;
      }
      if (!isCovered && operation.startEvent() >= cut) {
        continue;
      }
      (isCovered ? covered : pending).add(operation);
      if (operation.kind().zeros) {
        zeros = true;
      } else {
        sequences.add(operation.startSequence());
      }
    }
    return new Allowed(zeros, sequences, covered, pending);
  }

  private static boolean changesContent(Operation operation) {
    return operation.kind().data || operation.kind().zeros;
  }

  private String describe(int sector, SectorTag.Reading reading, Allowed allowed, long durable) {
    StringBuilder text = new StringBuilder();
    text.append(String.format("guest offset %d (0x%x, sector %d) reads %s", (long) sector * SectorTag.SECTOR,
        (long) sector * SectorTag.SECTOR, sector, reading));
    if (reading.kind() == SectorTag.Kind.TAGGED && reading.sector() != sector) {
      text.append(" [DATA OF ANOTHER OFFSET]");
    }
    text.append("\n    expected ");
    List<String> values = new ArrayList<>();
    if (allowed.zeros()) {
      values.add("zeros");
    }
    for (long sequence : allowed.sequences()) {
      values.add("sequence " + sequence);
    }
    text.append(String.join(" or ", values));
    text.append(durable == Long.MAX_VALUE ? " (no crash: all operations returned)"
        : " (durable up to the force begun at sequence " + durable + ")");
    text.append("; initial content ").append(initial[sector] == 0 ? "zeros" : "sequence " + initial[sector]);
    List<Operation> all = bySector[sector] == null ? List.of() : bySector[sector];
    for (Operation operation : all) {
      String role = !changesContent(operation) ? "leaves the content as it is"
          : allowed.covered().contains(operation) ? "durable" : allowed.pending().contains(operation)
          ? "not durable" : "superseded or after the cut";
      text.append("\n    ").append(role).append(": ").append(operation);
    }
    return text.toString();
  }
}
