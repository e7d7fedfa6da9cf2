package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * qemu-img convert's requests (convert_iteration_sectors) over the concatenated sources, walked
 * without copying, to name a failed read as qemu-img names it: by the start of its failing request
 * ("error while reading at byte N"). The copy itself cuts its work its own way; when a read of it
 * fails, the requests qemu-img would have read over that range are read again one by one, and the
 * first that fails is the one reported.
 */
final class ConvertRequests {
  private static final int SECTOR = Buffers.SECTOR;
  /** QEMU's BDRV_REQUEST_MAX_SECTORS: the longest block status query. */
  private static final long MAX_REQUEST_SECTORS = (Integer.MAX_VALUE & ~(SECTOR - 1L)) / SECTOR;

  private enum Status { DATA, ZERO, BACKING_FILE }

  private final ConvertSources sources;
  private final long totalSectors;
  private final boolean targetHasBacking;
  /** The target's backing file's length in sectors, -1 without one (target_backing_sectors). */
  private final long backingSectors;
  /** A compressed target's cluster in sectors, 0 when not compressing. */
  private final long clusterSectors;
  private final long bufferSectors;
  private long nextStatusSector;
  private Status status;

  /**
   * The walk of qemu-img's convert over {@code sources} into a target with or without a backing
   * file of {@code backingBytes} (-1: none), compressing into clusters of {@code compressedClusterBytes}
   * (0: not compressing), data read {@code bufferBytes} at most at a time.
   */
  ConvertRequests(List<DiskFile> sources, long backingBytes, int compressedClusterBytes, int bufferBytes)
      throws IOException {
    this.sources = new ConvertSources(sources);
    this.totalSectors = this.sources.totalSectors();
    this.targetHasBacking = backingBytes >= 0;
    this.backingSectors = backingBytes < 0 ? -1 : (backingBytes + SECTOR - 1) / SECTOR;
    this.clusterSectors = compressedClusterBytes / SECTOR;
    this.bufferSectors = compressedClusterBytes > 0 ? clusterSectors : Math.max(1, bufferBytes / SECTOR);
  }

  /**
   * The failure of a read of the sources over [{@code start}, {@code start + length}) as qemu-img
   * reports it: the first request qemu-img reads there whose read fails again, at its start; or
   * {@code failure} at {@code start} when none does.
   */
  ImageConvert.RequestFailedException locateRead(long start, long length, IOException failure) {
    try {
      long sector = 0;
      long end = start + length;
      while (sector < totalSectors && sector * SECTOR < end) {
        long count = iterate(sector);
        long requestStart = sector * SECTOR;
        long requestEnd = (sector + count) * SECTOR;
        if (status == Status.DATA && requestEnd > start) {
          IOException again = read(sector, count);
          if (again != null) {
            return new ImageConvert.RequestFailedException(ImageConvert.RequestFailedException.Direction.READ,
                requestStart, again);
          }
        }
        sector += count;
      }
    } catch (IOException | RuntimeException walkFailed) {
      failure.addSuppressed(walkFailed);
    }
    return new ImageConvert.RequestFailedException(ImageConvert.RequestFailedException.Direction.READ, start, failure);
  }

  /** Reads a request's sectors again; its failure, or null. */
  private IOException read(long sector, long count) {
    ByteBuffer buffer = ByteBuffer.allocate((int) Math.min(count * SECTOR, Integer.MAX_VALUE - 8));
    long cursor = sector;
    long left = count;
    try {
      while (left > 0) {
        int index = sources.indexOf(cursor);
        DiskFile source = sources.source(index);
        long local = sources.localOffset(index, cursor);
        long take = Math.min(left, sources.sectorsLeft(index, cursor));
        int bytes = (int) Math.max(0, Math.min(take * SECTOR, source.size() - local));
        buffer.clear().limit(bytes);
        source.readFully(buffer, local);
        cursor += take;
        left -= take;
      }
      return null;
    } catch (IOException e) {
      return e;
    }
  }

  /**
   * QEMU's convert_iteration_sectors: the sectors from {@code sector} that the next request takes,
   * with {@link #status} theirs; block status is asked again only past the last answer.
   */
  private long iterate(long sector) throws IOException {
    int index = sources.indexOf(sector);
    long count = Math.min(totalSectors - sector, MAX_REQUEST_SECTORS);
    boolean postBackingZero = false;
    if (backingSectors >= 0) {
      if (sector >= backingSectors) {
        postBackingZero = true;
      } else if (sector + count > backingSectors) {
        count = backingSectors - sector;
      }
    }
    if (nextStatusSector <= sector) {
      DiskFile source = sources.source(index);
      long local = sources.localOffset(index, sector);
      long asked = Math.min(count * SECTOR, source.size() - local);
      Extent extent = source.blockStatus(local, asked);
      long answered = Math.max(1, Math.min(extent.length(), asked));
      count = (answered + SECTOR - 1) / SECTOR;
      count = sources.alignedCount(index, sector, count);
      if (extent.zero()) {
        status = postBackingZero ? Status.BACKING_FILE : Status.ZERO;
      } else if (extent.data()) {
        status = Status.DATA;
      } else {
        status = targetHasBacking ? Status.BACKING_FILE : Status.DATA;
      }
      nextStatusSector = sector + count;
    }
    count = Math.min(count, nextStatusSector - sector);
    if (status == Status.DATA) {
      count = Math.min(count, bufferSectors);
    }
    if (clusterSectors > 0) {
      // compressed clusters are written whole: a shorter unallocated range counts as data
      if (count < clusterSectors) {
        count = Math.min(clusterSectors, totalSectors - sector);
        status = Status.DATA;
      } else {
        count -= count % clusterSectors;
      }
    }
    return count;
  }
}
