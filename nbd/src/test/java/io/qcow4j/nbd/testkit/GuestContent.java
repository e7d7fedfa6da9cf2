package io.qcow4j.nbd.testkit;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;

/** What each 512-byte sector of a guest disk holds: 0 for zeros, else the sequence number of its tag. */
public final class GuestContent {
  private final long[] sectors;

  public GuestContent(long[] sectors) {
    this.sectors = sectors;
  }

  public static GuestContent zeros(long size) {
    return new GuestContent(new long[Math.toIntExact(size / SectorTag.SECTOR)]);
  }

  /** Runs of 4 KiB to 256 KiB, about half of them data (one new sequence number per run), the rest zeros. */
  public static GuestContent random(long size, Random random, AtomicLong seqs) {
    long[] sectors = new long[Math.toIntExact(size / SectorTag.SECTOR)];
    int perPage = 4096 / SectorTag.SECTOR;
    for (int at = 0; at < sectors.length; ) {
      int length = Math.min(sectors.length - at, perPage * (1 + random.nextInt(64)));
      long seq = random.nextBoolean() ? seqs.incrementAndGet() : 0;
      for (int i = at; i < at + length; i++) {
        sectors[i] = seq;
      }
      at += length;
    }
    return new GuestContent(sectors);
  }

  public int sectorCount() {
    return sectors.length;
  }

  public long size() {
    return (long) sectors.length * SectorTag.SECTOR;
  }

  public long seq(int sector) {
    return sectors[sector];
  }

  /** Writes this content as a sparse raw file: tagged sectors where a sequence number is, holes elsewhere. */
  public void writeRaw(Path raw, long seed) throws IOException {
    try (FileChannel file = FileChannel.open(raw, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
        StandardOpenOption.WRITE)) {
      ByteBuffer sector = ByteBuffer.allocate(SectorTag.SECTOR);
      for (int i = 0; i < sectors.length; i++) {
        if (sectors[i] != 0) {
          long offset = (long) i * SectorTag.SECTOR;
          SectorTag.put(sector.clear(), offset, sectors[i], seed);
          file.write(sector.flip(), offset);
        }
      }
      if (file.size() < size()) {
        file.write(ByteBuffer.allocate(1), size() - 1);
      }
    }
  }
}
