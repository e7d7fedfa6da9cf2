package io.qcow4j.cli.serve;

import io.qcow4j.nbd.testkit.ImageReadback;
import io.qcow4j.nbd.testkit.SectorTag;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Compares what a killed image holds with what the model allows, sector by sector, and describes
 * the differences as ranges: where, what was found (and which request wrote it), what was allowed.
 */
final class ModelComparison {
  private static final int RANGES_SHOWN = 12;
  private static final int ORIGINS_SHOWN = 8;
  private static final int HISTORY_SHOWN = 30;

  private ModelComparison() {}

  /** Decides whether a difference is a known flaw of the server under test rather than a failure. */
  interface Excuse {
    boolean excuses(DurabilityModel model, ImageReadback image, int sector);

    Excuse NONE = (model, image, sector) -> false;
  }

  /**
   * Null when every sector holds an allowed value (or one that {@code excuse} excuses, counted in
   * {@code excused}), else a report of the differences.
   */
  static String differences(ImageReadback image, DurabilityModel model, int clusterSize, Excuse excuse,
      int[] excused) {
    Map<String, Integer> counts = new TreeMap<>();
    List<String> ranges = new ArrayList<>();
    int bad = 0;
    int firstBad = -1;
    int rangeStart = -1;
    String rangeKind = null;
    for (int sector = 0; sector <= image.sectorCount(); sector++) {
      String kind = null;
      if (sector < image.sectorCount()) {
        long value = image.value(sector);
        if ((value < 0 || !model.allows(sector, value)) && excuse.excuses(model, image, sector)) {
          excused[0]++;
        } else if (value < 0 || !model.allows(sector, value)) {
          String category = category(image, model, sector);
          counts.merge(category, 1, Integer::sum);
          kind = category + " " + source(image, sector);
          if (bad++ == 0) {
            firstBad = sector;
          }
        }
      }
      if (rangeStart >= 0 && !Objects.equals(kind, rangeKind)) {
        if (ranges.size() < RANGES_SHOWN) {
          ranges.add(describe(image, model, rangeStart, sector, clusterSize));
        }
        rangeStart = -1;
      }
      if (kind != null && rangeStart < 0) {
        rangeStart = sector;
        rangeKind = kind;
      }
    }
    if (bad == 0) {
      return null;
    }
    StringBuilder report = new StringBuilder().append(bad).append(" sectors hold values the model does not allow ")
        .append(counts).append("; ").append(model.summary()).append('\n');
    for (String range : ranges) {
      report.append(range).append('\n');
    }
    report.append("  every request on sector 0x").append(Long.toHexString((long) firstBad * SectorTag.SECTOR))
        .append(", in sending order:");
    List<String> history = model.history(firstBad);
    for (String line : history.subList(Math.max(0, history.size() - HISTORY_SHOWN), history.size())) {
      report.append("\n      ").append(line);
    }
    return report.append('\n').toString();
  }

  /** Which write a sector's content came from, and from how far: sectors of one range share it. */
  private static String source(ImageReadback image, int sector) {
    SectorTag.Content foreign = image.foreign(sector);
    if (foreign == null) {
      return "seq " + image.value(sector);
    }
    if (foreign.kind() != SectorTag.Kind.TAGGED) {
      return "garbage";
    }
    return "seq " + foreign.seq() + " shifted " + (foreign.offset() - (long) sector * SectorTag.SECTOR);
  }

  private static String category(ImageReadback image, DurabilityModel model, int sector) {
    SectorTag.Content foreign = image.foreign(sector);
    if (foreign != null) {
      return switch (foreign.kind()) {
        case TAGGED -> foreign.offset() != (long) sector * SectorTag.SECTOR ? "data of another offset" : "tag of another run";
        default -> "garbage";
      };
    }
    if (image.value(sector) == 0) {
      return "zeros instead of durable data";
    }
    return model.write(image.value(sector)) == null ? "unknown or initial data overwritten for good"
        : "older data overwritten for good";
  }

  private static String describe(ImageReadback image, DurabilityModel model, int from, int to, int clusterSize) {
    long offset = (long) from * SectorTag.SECTOR;
    StringBuilder text = new StringBuilder().append("  guest 0x").append(Long.toHexString(offset)).append("..0x")
        .append(Long.toHexString((long) to * SectorTag.SECTOR)).append(" (cluster ").append(offset / clusterSize)
        .append(", ").append(to - from).append(" sectors): found ");
    SectorTag.Content foreign = image.foreign(from);
    long value = image.value(from);
    if (foreign != null) {
      text.append(foreign);
      if (foreign.kind() == SectorTag.Kind.TAGGED) {
        WorkloadLog.Entry writer = model.write(foreign.seq());
        text.append(writer == null ? " (initial content)" : " written by " + writer);
      }
    } else if (value == 0) {
      text.append("zeros");
    } else {
      WorkloadLog.Entry writer = model.write(value);
      text.append("seq ").append(value).append(writer == null ? " (initial content)" : " written by " + writer);
    }
    text.append("; allowed:");
    List<DurabilityModel.Origin> origins = model.allowed(from);
    for (int i = 0; i < origins.size() && i < ORIGINS_SHOWN; i++) {
      DurabilityModel.Origin origin = origins.get(i);
      text.append("\n      ").append(origin.value() == 0 ? "zeros" : "seq " + origin.value()).append(" from ")
          .append(origin.why());
    }
    if (origins.size() > ORIGINS_SHOWN) {
      text.append("\n      ... ").append(origins.size() - ORIGINS_SHOWN).append(" more");
    }
    return text.toString();
  }
}
