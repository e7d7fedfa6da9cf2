package io.qcow4j.write;

import io.qcow4j.testing.Discards;
import io.qcow4j.qcow2.QcowFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.Phaser;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One writer of the striped concurrent test: random writes, writeZeroes with and without unmap
 * (and followed by allocate, as the NBD server serves NO_HOLE), discards, allocate, compressed
 * clusters, flushes and reads, only on the stripes it owns, each change
 * copied to the shared shadow and read back at once. Reads of whole clusters also check the other
 * writers' sectors there, which may be changing: no data tagged for another sector.
 */
final class StripedWriter {
  private static final int HOT_CLUSTERS = 2;

  private final QcowFile disk;
  private final ImageShape shape;
  private final StripeLayout layout;
  private final byte[] shadow;
  private final AtomicLong sequence;
  private final int writer;
  private final Random random;
  private String last = "nothing yet";

  StripedWriter(QcowFile disk, ImageShape shape, StripeLayout layout, byte[] shadow, AtomicLong sequence, int writer,
      Random random) {
    this.disk = disk;
    this.shape = shape;
    this.layout = layout;
    this.shadow = shadow;
    this.sequence = sequence;
    this.writer = writer;
    this.random = random;
  }

  /**
   * Runs {@code operations} operations in {@code rounds} rounds, waiting for the other writers at
   * {@code between} after each (where clusters are emptied for the next round); a failure
   * terminates it, so that the other writers stop too.
   */
  void run(int operations, int rounds, Phaser between) {
    int step = 0;
    try {
      for (int round = 0; round < rounds; round++) {
        for (int end = operations * (round + 1) / rounds; step < end; step++) {
          step();
        }
        if (between.arriveAndAwaitAdvance() < 0) {
          throw new IllegalStateException("writer " + writer + " stopped after round " + round
              + ": another writer failed");
        }
      }
    } catch (IOException | RuntimeException | AssertionError e) {
      between.forceTermination();
      if (e instanceof IllegalStateException stopped && stopped.getMessage().contains("another writer failed")) {
        throw stopped;
      }
      throw new AssertionError("writer " + writer + ", operation " + step + " (" + last + "): " + e, e);
    }
  }

  private void step() throws IOException {
    int region = pickRegion();
    int stripe = layout.stripe(region);
    long stripeStart = layout.stripeOffset(region, writer, random.nextLong(stripeChoices(region)));
    int sectors = stripe / SectorTag.SECTOR;
    int from = 0;
    int to = sectors;
    if (random.nextBoolean()) {
      from = random.nextInt(sectors);
      to = from + 1 + random.nextInt(sectors - from);
    }
    long offset = stripeStart + (long) from * SectorTag.SECTOR;
    int length = (to - from) * SectorTag.SECTOR;
    int choice = random.nextInt(100);
    if (choice < 40) {
      write(offset, length);
    } else if (choice < 50) {
      last = "writeZeroes " + offset + " +" + length;
      disk.writeZeroes(offset, length);
      zeroShadow(offset, length);
    } else if (choice < 58) {
      // What the NBD server does for WRITE_ZEROES with NO_HOLE: zeros, then the space provisioned.
      last = "writeZeroes then allocate (NBD NO_HOLE) " + offset + " +" + length;
      disk.writeZeroes(offset, length);
      zeroShadow(offset, length);
      disk.allocate(offset, length);
    } else if (choice < 66) {
      last = "writeZeroesUnmap " + offset + " +" + length;
      disk.writeZeroesUnmap(offset, length);
      zeroShadow(offset, length);
    } else if (choice < 76) {
      last = "discard " + offset + " +" + length;
      long[] zeroed = Discards.zeroedRange(disk, offset, length);
      disk.discard(offset, length);
      zeroShadow(zeroed[0], (int) (zeroed[1] - zeroed[0]));
    } else if (choice < 80) {
      last = "allocate " + offset + " +" + length;
      disk.allocate(offset, length);
    } else if (choice < 84) {
      if (shape.compressed() && stripe == disk.clusterSize()) {
        long seq = sequence.incrementAndGet();
        boolean compressed = ShapeSetup.writeCompressedCluster(disk, stripeStart, seq);
        last = (compressed ? "compressed write " : "write (incompressible) ") + stripeStart + " +" + stripe
            + " of sequence " + seq;
        System.arraycopy(SectorTag.data(stripeStart, stripe, seq), 0, shadow, (int) stripeStart, stripe);
        offset = stripeStart;
        length = stripe;
      } else {
        write(offset, length);
      }
    } else if (choice < 88) {
      last = "flush";
      disk.flush();
      return;
    } else if (choice < 94) {
      readClusters(offset, length);
      return;
    } else {
      last = "read " + offset + " +" + length;
    }
    assertOwnBytes(offset, length, "read back after " + last);
  }

  /** Half the time only the stripes of the region's first clusters, so that writers meet there often. */
  private long stripeChoices(int region) {
    long all = layout.stripesOf(region, writer);
    long hot = (long) HOT_CLUSTERS * disk.clusterSize() / layout.stripe(region) / layout.writers();
    return random.nextBoolean() && hot > 0 ? Math.min(all, hot) : all;
  }

  /** Mostly the one-sector stripes, where several writers meet in every cluster. */
  private int pickRegion() {
    int region = switch (random.nextInt(5)) {
      case 0, 1 -> 0;
      case 2 -> 1;
      case 3 -> 2;
      default -> 3;
    };
    return layout.stripesOf(region, writer) == 0 ? 0 : region;
  }

  private void write(long offset, int length) throws IOException {
    long seq = sequence.incrementAndGet();
    byte[] data = SectorTag.data(offset, length, seq);
    last = "write " + offset + " +" + length + " of sequence " + seq;
    ByteBuffer source = random.nextInt(4) == 0 ? ByteBuffer.allocateDirect(length).put(data).flip() : ByteBuffer.wrap(data);
    disk.writeFully(source, offset);
    System.arraycopy(data, 0, shadow, (int) offset, length);
  }

  private void zeroShadow(long offset, int length) {
    Arrays.fill(shadow, (int) offset, (int) offset + length, (byte) 0);
  }

  /** Reads [offset, offset + length) and fails unless it matches the shadow, naming what each side holds. */
  private void assertOwnBytes(long offset, int length, String context) throws IOException {
    ByteBuffer back = ByteBuffer.allocate(length);
    disk.readFully(back, offset);
    assertSectors(back.array(), 0, shadow, offset, length, context);
  }

  /** Reads the clusters around the range: this writer's sectors match the shadow, the others are well addressed. */
  private void readClusters(long offset, int length) throws IOException {
    int clusterSize = disk.clusterSize();
    long start = offset / clusterSize * clusterSize;
    long end = Math.min(disk.size(), (offset + length + clusterSize - 1) / clusterSize * clusterSize);
    last = "read clusters " + start + " +" + (end - start);
    ByteBuffer back = ByteBuffer.allocate((int) (end - start));
    disk.readFully(back, start);
    byte[] bytes = back.array();
    for (long at = start; at < end; at += SectorTag.SECTOR) {
      int index = (int) (at - start);
      if (layout.owner(at) == writer) {
        assertSectors(bytes, index, shadow, at, SectorTag.SECTOR, last);
        continue;
      }
      SectorTag.Reading reading = SectorTag.read(bytes, index);
      if (SectorTag.namesAnotherSector(reading, at / SectorTag.SECTOR)) {
        throw new AssertionError(last + ": another writer's guest offset " + at + " reads " + reading);
      }
    }
  }

  /** Compares sector by sector; a difference names the guest offset and decodes both sides. */
  static void assertSectors(byte[] actual, int actualFrom, byte[] expected, long offset, int length, String context) {
    int mismatch = Arrays.mismatch(actual, actualFrom, actualFrom + length, expected, (int) offset,
        (int) offset + length);
    if (mismatch < 0) {
      return;
    }
    int sectorStart = mismatch / SectorTag.SECTOR * SectorTag.SECTOR;
    int differing = 0;
    for (int at = sectorStart; at < length; at += SectorTag.SECTOR) {
      if (Arrays.mismatch(actual, actualFrom + at, actualFrom + at + SectorTag.SECTOR, expected, (int) offset + at,
          (int) offset + at + SectorTag.SECTOR) >= 0) {
        differing++;
      }
    }
    throw new AssertionError(String.format("%s: guest offset %d (0x%x) reads %s, expected %s (%d of the %d sectors"
            + " from there differ)", context, offset + sectorStart, offset + sectorStart,
        SectorTag.read(actual, actualFrom + sectorStart), SectorTag.read(expected, (int) offset + sectorStart),
        differing, (length - sectorStart) / SectorTag.SECTOR));
  }
}
