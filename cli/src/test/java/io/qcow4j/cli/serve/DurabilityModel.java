package io.qcow4j.cli.serve;

import static io.qcow4j.nbd.testkit.PipelinedNbdClient.CMD_FLUSH;
import static io.qcow4j.nbd.testkit.PipelinedNbdClient.CMD_TRIM;
import static io.qcow4j.nbd.testkit.PipelinedNbdClient.CMD_WRITE;
import static io.qcow4j.nbd.testkit.PipelinedNbdClient.FLAG_FUA;

import io.qcow4j.nbd.testkit.GuestContent;
import io.qcow4j.nbd.testkit.SectorTag;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The values each sector may hold after the server was killed, from the requests it acknowledged.
 *
 * <p>A request is durable when it was acknowledged with FUA, or acknowledged before the client
 * sent a FLUSH that was acknowledged (with MULTI_CONN, whatever connection carried it). A value is
 * allowed unless a durable WRITE or WRITE_ZEROES of the same sector was sent after it was
 * acknowledged (then that value was overwritten for good): so the newest durable values are
 * allowed, and so is every write, zeroing or trim that may have come after them, landed or not. A
 * TRIM may read as zeros, as what the backing file holds there, or as the old data (so a trim never
 * makes older values impossible). The initial content is durable and older than every request.
 */
final class DurabilityModel {
  /** Why a value is allowed: the request that may have left it, or the initial content. */
  record Origin(long value, String why) {}

  private final GuestContent initial;
  private final GuestContent backing;
  private final List<WorkloadLog.Entry> modifying = new ArrayList<>();
  private final boolean[] durable;
  private final long durableCutoff;
  /** For each sector, the indices into {@link #modifying} of the requests that cover it, in CSR form. */
  private final int[] first;
  private final int[] covering;
  private final Map<Long, WorkloadLog.Entry> writesBySeq = new HashMap<>();

  DurabilityModel(GuestContent initial, GuestContent backing, List<WorkloadLog.Entry> log) {
    this.initial = initial;
    this.backing = backing;
    long cutoff = Long.MIN_VALUE;
    for (WorkloadLog.Entry entry : log) {
      if (entry.type() == CMD_FLUSH && entry.acked()) {
        cutoff = Math.max(cutoff, entry.request().sendTick());
      } else if (entry.modifies()) {
        modifying.add(entry);
        if (entry.type() == CMD_WRITE) {
          writesBySeq.put(entry.seq(), entry);
        }
      }
    }
    durableCutoff = cutoff;
    durable = new boolean[modifying.size()];
    int sectors = initial.sectorCount();
    first = new int[sectors + 1];
    for (int i = 0; i < modifying.size(); i++) {
      WorkloadLog.Entry entry = modifying.get(i);
      durable[i] = entry.acked() && (entry.request().has(FLAG_FUA) || entry.ackTick() < durableCutoff);
      for (int s = firstSector(entry); s < endSector(entry); s++) {
        first[s + 1]++;
      }
    }
    for (int s = 0; s < sectors; s++) {
      first[s + 1] += first[s];
    }
    covering = new int[first[sectors]];
    int[] fill = first.clone();
    for (int i = 0; i < modifying.size(); i++) {
      WorkloadLog.Entry entry = modifying.get(i);
      for (int s = firstSector(entry); s < endSector(entry); s++) {
        covering[fill[s]++] = i;
      }
    }
  }

  private static int firstSector(WorkloadLog.Entry entry) {
    return (int) (entry.request().offset() / SectorTag.SECTOR);
  }

  private static int endSector(WorkloadLog.Entry entry) {
    return (int) ((entry.request().offset() + entry.request().length()) / SectorTag.SECTOR);
  }

  /** Whether {@code value} (0 for zeros, else a tag's sequence number) is allowed in {@code sector}. */
  boolean allows(int sector, long value) {
    long overwrittenBefore = overwrittenBefore(sector);
    if (overwrittenBefore == Long.MIN_VALUE && initial.seq(sector) == value) {
      return true;
    }
    for (int k = first[sector]; k < first[sector + 1]; k++) {
      WorkloadLog.Entry entry = modifying.get(covering[k]);
      if (entry.acked() && entry.ackTick() < overwrittenBefore) {
        continue;
      }
      boolean match = switch (entry.type()) {
        case CMD_WRITE -> entry.seq() == value;
        case CMD_TRIM -> value == 0 || value == backing.seq(sector);
        default -> value == 0;
      };
      if (match) {
        return true;
      }
    }
    return false;
  }

  /** Every value allowed in {@code sector}, with the reason for each, for a report. */
  List<Origin> allowed(int sector) {
    long overwrittenBefore = overwrittenBefore(sector);
    Set<Origin> origins = new LinkedHashSet<>();
    if (overwrittenBefore == Long.MIN_VALUE) {
      origins.add(new Origin(initial.seq(sector), "initial content"));
    }
    for (int k = first[sector]; k < first[sector + 1]; k++) {
      int i = covering[k];
      WorkloadLog.Entry entry = modifying.get(i);
      if (entry.acked() && entry.ackTick() < overwrittenBefore) {
        continue;
      }
      String why = entry + (durable[i] ? " durable" : "");
      switch (entry.type()) {
        case CMD_WRITE -> origins.add(new Origin(entry.seq(), why));
        case CMD_TRIM -> {
          origins.add(new Origin(0, why));
          if (backing.seq(sector) != 0) {
            origins.add(new Origin(backing.seq(sector), why + " (backing file content)"));
          }
        }
        default -> origins.add(new Origin(0, why));
      }
    }
    return List.copyOf(origins);
  }

  /** The requests on {@code sector} whose value it may still hold (those not overwritten for good). */
  List<WorkloadLog.Entry> candidates(int sector) {
    long overwrittenBefore = overwrittenBefore(sector);
    List<WorkloadLog.Entry> result = new ArrayList<>();
    for (int k = first[sector]; k < first[sector + 1]; k++) {
      WorkloadLog.Entry entry = modifying.get(covering[k]);
      if (!(entry.acked() && entry.ackTick() < overwrittenBefore)) {
        result.add(entry);
      }
    }
    return result;
  }

  /** Whether a logged write, trim or zeroing was durable when the server was killed. */
  boolean durable(WorkloadLog.Entry entry) {
    return entry.acked() && (entry.request().has(FLAG_FUA) || entry.ackTick() < durableCutoff);
  }

  /** Every request that covered {@code sector}, oldest first, for a report. */
  List<String> history(int sector) {
    List<String> lines = new ArrayList<>();
    lines.add("initial content " + (initial.seq(sector) == 0 ? "zeros" : "seq " + initial.seq(sector)));
    for (int k = first[sector]; k < first[sector + 1]; k++) {
      int i = covering[k];
      lines.add(modifying.get(i) + (durable[i] ? " durable" : ""));
    }
    return lines;
  }

  /**
   * The send tick of the newest durable WRITE or WRITE_ZEROES of the sector: what was acknowledged
   * before it is overwritten for good (MIN_VALUE when no such request: the initial content stands).
   */
  private long overwrittenBefore(int sector) {
    long result = Long.MIN_VALUE;
    for (int k = first[sector]; k < first[sector + 1]; k++) {
      int i = covering[k];
      if (durable[i] && modifying.get(i).type() != CMD_TRIM) {
        result = Math.max(result, modifying.get(i).request().sendTick());
      }
    }
    return result;
  }

  int sectorCount() {
    return initial.sectorCount();
  }

  /** The write that wrote tags of sequence {@code seq}, or null (initial content). */
  WorkloadLog.Entry write(long seq) {
    return writesBySeq.get(seq);
  }

  /** A summary for the report: requests, acknowledged, durable, and the flush cutoff. */
  String summary() {
    int acked = 0;
    int durableCount = 0;
    for (int i = 0; i < modifying.size(); i++) {
      acked += modifying.get(i).acked() ? 1 : 0;
      durableCount += durable[i] ? 1 : 0;
    }
    return modifying.size() + " writes/trims/zeroes, " + acked + " acked, " + durableCount
        + " durable; last acked flush sent@" + (durableCutoff == Long.MIN_VALUE ? "never" : durableCutoff);
  }
}
