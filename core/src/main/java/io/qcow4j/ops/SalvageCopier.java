package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * qemu-img convert --salvage: the copy walked as qemu-img walks it (convert_iteration_sectors),
 * one request after the other, so that its failures are met, and reported, where and in the order
 * qemu-img meets them. A block status query that fails is retried on a quarter of the range until
 * it covers one sector, which is then warned about and read as data; a read that fails is retried
 * sector by sector, each failing sector warned about and copied as zeros. As qemu-img, the walk is
 * made twice: once to count the bytes to copy, once to copy them.
 */
final class SalvageCopier {
  private static final int SECTOR = Buffers.SECTOR;
  /** QEMU's BDRV_REQUEST_MAX_SECTORS: the longest block status query. */
  private static final long MAX_REQUEST_SECTORS = (Integer.MAX_VALUE & ~(SECTOR - 1L)) / SECTOR;
  /** The least run of zero bytes left out of a new target (qemu-img's -S default). */
  private static final int SPARSE_BYTES = 4096;

  private enum Status { DATA, ZERO, BACKING_FILE }

  private final ConvertSources sources;
  private final long totalSectors;
  private final DiskFile target;
  private final boolean leavesZeros;
  private final boolean targetHasBacking;
  private final boolean writesZerosAsData;
  private final int bufferSectors;
  private final ImageConvert.Salvage salvage;
  private long nextStatusSector;
  private Status status;

  SalvageCopier(List<DiskFile> sources, DiskFile target, ImageConvert.Options options, int targetClusterBytes)
      throws IOException {
    this.sources = new ConvertSources(sources);
    this.totalSectors = this.sources.totalSectors();
    this.target = target;
    this.targetHasBacking = options.targetIsNew() && target.backing().isPresent();
    this.leavesZeros = options.targetIsNew() && !targetHasBacking && options.detectZeroes();
    this.writesZerosAsData = !options.detectZeroes();
    this.bufferSectors = Math.max(Buffers.IO_BUFFER_BYTES, targetClusterBytes) / SECTOR;
    this.salvage = options.salvage();
  }

  /** Counts what there is to copy, then copies it, reporting progress as qemu-img does. */
  void copy(ImageConvert.Progress progress) throws IOException {
    long counted = 0;
    for (long sector = 0; sector < totalSectors; ) {
      long count = iterate(sector);
      if (status == Status.DATA || (writesZerosAsData && status == Status.ZERO)) {
        counted += count;
      }
      sector += count;
    }
    nextStatusSector = 0;
    long done = 0;
    ByteBuffer buffer = ByteBuffer.allocate(bufferSectors * SECTOR);
    for (long sector = 0; sector < totalSectors; ) {
      long count = iterate(sector);
      Status found = status;
      if (writesZerosAsData && found == Status.ZERO) {
        count = Math.min(count, bufferSectors);
      }
      if (found == Status.DATA || (writesZerosAsData && found == Status.ZERO)) {
        done += count;
        progress.update(done * SECTOR, counted * SECTOR);
      }
      switch (found) {
        case DATA -> {
          buffer.clear().limit((int) count * SECTOR);
          read(sector, (int) count, buffer);
          write(sector, buffer);
        }
        case ZERO -> {
          if (writesZerosAsData) {
            buffer.clear().limit((int) count * SECTOR);
            Buffers.fillZeros(buffer, 0, buffer.limit());
            write(sector, buffer);
          } else if (!leavesZeros) {
            target.writeZeroes(sector * SECTOR, bytesFrom(sector, count));
          }
        }
        case BACKING_FILE -> { }
      }
      sector += count;
    }
    target.flush();
  }

  /**
   * QEMU's convert_iteration_sectors: the sectors from {@code sector} that the next request takes,
   * with {@link #status} theirs; block status is asked again only past the last answer.
   */
  private long iterate(long sector) throws IOException {
    int index = sources.indexOf(sector);
    long count = Math.min(totalSectors - sector, MAX_REQUEST_SECTORS);
    if (nextStatusSector <= sector) {
      DiskFile source = sources.source(index);
      long local = sources.localOffset(index, sector);
      long answered;
      Extent extent = null;
      while (true) {
        long asked = Math.min(count * SECTOR, source.size() - local);
        try {
          extent = source.blockStatus(local, asked);
          answered = Math.max(1, Math.min(extent.length(), asked));
          break;
        } catch (IOException e) {
          if (count == 1) {
            salvage.blockStatusFailed(local, e);
            // the sector is read as data then
            extent = null;
            answered = SECTOR;
            break;
          }
          count = (count + 3) / 4;
        }
      }
      count = (answered + SECTOR - 1) / SECTOR;
      count = sources.alignedCount(index, sector, count);
      if (extent == null || (!extent.zero() && extent.data())) {
        status = Status.DATA;
      } else if (extent.zero()) {
        status = Status.ZERO;
      } else {
        status = targetHasBacking ? Status.BACKING_FILE : Status.DATA;
      }
      nextStatusSector = sector + count;
    }
    count = Math.min(count, nextStatusSector - sector);
    if (status == Status.DATA) {
      count = Math.min(count, bufferSectors);
    }
    return count;
  }

  /**
   * QEMU's convert_co_read with salvaging: {@code count} sectors from {@code sector} into
   * {@code buffer}; a failed read is made again sector by sector, failing sectors read as zeros.
   */
  private void read(long sector, int count, ByteBuffer buffer) throws IOException {
    long singleReadUntil = -1;
    int filled = 0;
    while (count > 0) {
      int index = sources.indexOf(sector);
      DiskFile source = sources.source(index);
      long local = sources.localOffset(index, sector);
      int take = (int) Math.min(count, sources.sectorsLeft(index, sector));
      if (local < singleReadUntil) {
        take = 1;
      }
      ByteBuffer slice = buffer.slice(filled, take * SECTOR);
      try {
        readPadded(source, slice, local);
      } catch (IOException e) {
        if (take > 1) {
          singleReadUntil = local + (long) take * SECTOR;
          continue;
        }
        salvage.readFailed(local, e);
        Buffers.fillZeros(buffer, filled, SECTOR);
      }
      sector += take;
      count -= take;
      filled += take * SECTOR;
    }
  }

  /** Reads sectors of a source; the part of its last sector past its end reads as zeros. */
  private static void readPadded(DiskFile source, ByteBuffer slice, long local) throws IOException {
    int inside = (int) Math.max(0, Math.min(slice.remaining(), source.size() - local));
    source.readFully(slice.slice(0, inside), local);
    Buffers.fillZeros(slice, inside, slice.remaining() - inside);
  }

  /** Writes a data request; runs of zeros of qemu-img's -S size are left out of a target that reads as zeros. */
  private void write(long sector, ByteBuffer data) throws IOException {
    long offset = sector * SECTOR;
    int length = (int) Math.min(data.limit(), target.size() - offset);
    if (!leavesZeros) {
      target.writeFully(data.slice(0, length), offset);
      return;
    }
    int runStart = -1;
    for (int from = 0; from < length; from += SPARSE_BYTES) {
      int piece = Math.min(SPARSE_BYTES, length - from);
      boolean zero = Buffers.isZero(data, from, piece);
      if (!zero && runStart < 0) {
        runStart = from;
      } else if (zero && runStart >= 0) {
        target.writeFully(data.slice(runStart, from - runStart), offset + runStart);
        runStart = -1;
      }
    }
    if (runStart >= 0) {
      target.writeFully(data.slice(runStart, length - runStart), offset + runStart);
    }
  }

  private long bytesFrom(long sector, long count) throws IOException {
    return Math.min(count * SECTOR, target.size() - sector * SECTOR);
  }
}
