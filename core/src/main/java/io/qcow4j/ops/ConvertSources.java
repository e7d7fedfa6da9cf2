package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import java.util.List;

/**
 * The sources of a convert laid end to end in sectors, as qemu-img's convert walks them: where
 * each starts, how many sectors it has, and the cluster alignment of its block status queries.
 */
final class ConvertSources {
  private static final int SECTOR = Buffers.SECTOR;

  private final List<DiskFile> sources;
  private final long[] startSectors;
  private final long[] sourceSectors;
  private final long[] alignmentSectors;
  private final long totalSectors;

  ConvertSources(List<DiskFile> sources) throws java.io.IOException {
    this.sources = List.copyOf(sources);
    this.startSectors = new long[sources.size()];
    this.sourceSectors = new long[sources.size()];
    this.alignmentSectors = new long[sources.size()];
    long sum = 0;
    for (int index = 0; index < sources.size(); index++) {
      DiskFile source = sources.get(index);
      startSectors[index] = sum;
      sourceSectors[index] = (source.size() + SECTOR - 1) / SECTOR;
      // qemu-img aligns its block status ranges to the source's cluster size where it has one
      alignmentSectors[index] = Math.max(1, source.info().clusterSize() / SECTOR);
      sum += sourceSectors[index];
    }
    this.totalSectors = sum;
  }

  /** All the sources' sectors. */
  long totalSectors() {
    return totalSectors;
  }

  /** The index of the source holding {@code sector}. */
  int indexOf(long sector) {
    int index = 0;
    while (index + 1 < startSectors.length && startSectors[index + 1] <= sector) {
      index++;
    }
    return index;
  }

  DiskFile source(int index) {
    return sources.get(index);
  }

  /** The byte offset of {@code sector} inside its source {@code index}. */
  long localOffset(int index, long sector) {
    return (sector - startSectors[index]) * SECTOR;
  }

  /** The sectors of source {@code index} from {@code sector} to its end. */
  long sectorsLeft(int index, long sector) {
    return sourceSectors[index] - (sector - startSectors[index]);
  }

  /**
   * {@code count} sectors from {@code sector}, shortened so that the next block status query
   * starts on one of the source's clusters, as qemu-img keeps it (never to nothing).
   */
  long alignedCount(int index, long sector, long count) {
    long tail = (sector - startSectors[index] + count) % alignmentSectors[index];
    return count > tail ? count - tail : count;
  }
}
