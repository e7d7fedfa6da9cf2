package io.qcow4j.write;

import io.qcow4j.testing.Discards;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.write.OperationLog.Kind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Several threads on one image at once, on overlapping ranges: tagged writes and rewrites,
 * compressed clusters, discards, writeZeroes with and without unmap, allocate, reads, flush and
 * force; every operation goes to the {@link OperationLog}. Reads check only what holds at any
 * moment: no sector holds data tagged for another sector.
 */
final class ConcurrentWorkload {
  private final QcowFile disk;
  private final ImageShape shape;
  private final OperationLog log;
  private final long size;
  private final int clusterSize;

  ConcurrentWorkload(QcowFile disk, ImageShape shape, OperationLog log) throws java.io.IOException {
    this.disk = disk;
    this.shape = shape;
    this.log = log;
    this.size = disk.size();
    this.clusterSize = disk.clusterSize();
  }

  /** Runs {@code operations} random operations in each of {@code threads} threads, started together. */
  void run(long seed, int threads, int operations) throws Exception {
    try (ExecutorService pool = Executors.newFixedThreadPool(threads)) {
      CountDownLatch start = new CountDownLatch(1);
      List<Future<?>> workers = new ArrayList<>();
      for (int thread = 0; thread < threads; thread++) {
        int id = thread;
        Random random = new Random(seed * 1_000_003L + thread);
        workers.add(pool.submit(() -> {
          start.await();
          worker(id, random, operations);
          return null;
        }));
      }
      start.countDown();
      Throwable first = null;
      for (Future<?> worker : workers) {
        try {
          worker.get();
        } catch (ExecutionException e) {
          first = first == null ? e.getCause() : first;
        }
      }
      if (first instanceof Exception exception) {
        throw exception;
      } else if (first != null) {
        throw (Error) first;
      }
    }
  }

  private void worker(int thread, Random random, int operations) throws IOException {
    List<long[]> written = new ArrayList<>();
    for (int step = 0; step < operations; step++) {
      int choice = random.nextInt(100);
      long[] range = range(random);
      String what = "?";
      try {
        if (choice < 36) {
          what = write(thread, range);
          written.add(range);
        } else if (choice < 46) {
          long[] again = written.isEmpty() ? range : written.get(random.nextInt(written.size()));
          what = "re" + write(thread, again);
        } else if (choice < 54) {
          what = zero(thread, Kind.DISCARD, range);
        } else if (choice < 61) {
          what = zero(thread, Kind.WRITE_ZEROES, range);
        } else if (choice < 67) {
          what = zero(thread, Kind.WRITE_ZEROES_UNMAP, range);
        } else if (choice < 71) {
          what = "allocate " + range[0] + " +" + range[1];
          OperationLog.Started started = log.start(Kind.ALLOCATE, thread, range[0], range[1]);
          disk.allocate(range[0], range[1]);
          log.finish(started);
        } else if (choice < 78) {
          what = shape.compressed() ? compressed(thread, random) : write(thread, range);
        } else if (choice < 84) {
          what = "flush";
          disk.flush();
        } else if (choice < 93) {
          boolean metadata = random.nextBoolean();
          what = "force(" + metadata + ")";
          long begun = log.beforeForce();
          disk.force(metadata);
          log.forced(thread, begun);
        } else {
          what = "read " + range[0] + " +" + range[1];
          readAndCheckAddresses(range[0], (int) range[1]);
        }
      } catch (IOException | RuntimeException | AssertionError e) {
        throw new AssertionError("thread " + thread + ", operation " + step + " (" + what + ") failed: " + e, e);
      }
    }
  }

  /** A sector-aligned range: small, up to two clusters, or whole clusters; half of them near the start. */
  private long[] range(Random random) {
    long sectors = size / SectorTag.SECTOR;
    int clusterSectors = clusterSize / SectorTag.SECTOR;
    long span = random.nextBoolean() ? sectors : Math.max(2L * clusterSectors, sectors / 8);
    span = Math.min(span, sectors);
    long first = random.nextLong(span);
    long count = switch (random.nextInt(3)) {
      case 0 -> 1 + random.nextInt(8);
      case 1 -> 1 + random.nextInt(Math.min(2 * clusterSectors, 1024));
      default -> {
        first = first / clusterSectors * clusterSectors;
        yield (long) clusterSectors * (clusterSize >= 1 << 20 ? 1 : 1 + random.nextInt(2));
      }
    };
    count = Math.min(count, sectors - first);
    return new long[] {first * SectorTag.SECTOR, count * SectorTag.SECTOR};
  }

  private String write(int thread, long[] range) throws IOException {
    OperationLog.Started started = log.start(Kind.WRITE, thread, range[0], range[1]);
    byte[] data = SectorTag.data(range[0], (int) range[1], started.startSequence());
    disk.writeFully(ByteBuffer.wrap(data), range[0]);
    log.finish(started);
    return "write " + range[0] + " +" + range[1] + " of sequence " + started.startSequence();
  }

  private String zero(int thread, Kind kind, long[] range) throws IOException {
    if (kind == Kind.DISCARD) {
      // Only the part a discard zeroes is logged: partial clusters keep their bytes.
      long[] zeroed = Discards.zeroedRange(disk, range[0], range[1]);
      OperationLog.Started started = log.start(kind, thread, zeroed[0], zeroed[1] - zeroed[0]);
      disk.discard(range[0], range[1]);
      log.finish(started);
      return kind + " " + range[0] + " +" + range[1];
    }
    OperationLog.Started started = log.start(kind, thread, range[0], range[1]);
    switch (kind) {
      case WRITE_ZEROES -> disk.writeZeroes(range[0], range[1]);
      case WRITE_ZEROES_UNMAP -> disk.writeZeroesUnmap(range[0], range[1]);
      default -> throw new IllegalArgumentException(kind.toString());
    }
    log.finish(started);
    return kind + " " + range[0] + " +" + range[1];
  }

  private String compressed(int thread, Random random) throws IOException {
    long offset = random.nextLong(size / clusterSize) * clusterSize;
    OperationLog.Started started = log.start(Kind.COMPRESSED, thread, offset, clusterSize);
    boolean compressed = ShapeSetup.writeCompressedCluster(disk, offset, started.startSequence());
    log.finish(started);
    return (compressed ? "compressed write " : "write (incompressible) ") + offset + " +" + clusterSize
        + " of sequence " + started.startSequence();
  }

  /** Reads the range (other threads may be changing it) and fails on a sector that holds data written for another. */
  private void readAndCheckAddresses(long offset, int length) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(length);
    disk.readFully(buffer, offset);
    byte[] bytes = buffer.array();
    for (int at = 0; at < length; at += SectorTag.SECTOR) {
      SectorTag.Reading reading = SectorTag.read(bytes, at);
      long sector = (offset + at) / SectorTag.SECTOR;
      if (SectorTag.namesAnotherSector(reading, sector)) {
        throw new AssertionError("live read: guest offset " + (offset + at) + " (sector " + sector + ") reads "
            + reading);
      }
    }
  }
}
