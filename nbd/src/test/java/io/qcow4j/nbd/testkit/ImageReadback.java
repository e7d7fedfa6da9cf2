package io.qcow4j.nbd.testkit;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;

/**
 * The guest content of a qcow2 image as qemu-img reads it (read-only, through its backing file),
 * sector by sector: the sequence number of each sector's own tag, 0 for zeros, and what the others
 * hold instead (another offset's tag, another run's, garbage).
 */
public final class ImageReadback {
  /** Sequence numbers per sector; -1 where the sector holds no tag of its own offset and seed. */
  private final long[] values;
  private final Map<Integer, SectorTag.Content> foreign;

  private ImageReadback(long[] values, Map<Integer, SectorTag.Content> foreign) {
    this.values = values;
    this.foreign = foreign;
  }

  public static ImageReadback read(Path image, long size, long seed) throws IOException, InterruptedException {
    Path raw = image.resolveSibling(image.getFileName() + ".readback.raw");
    try {
      Commands.check("qemu-img", "convert", "-f", "qcow2", "-O", "raw", image.toString(), raw.toString());
      long[] values = new long[Math.toIntExact(size / SectorTag.SECTOR)];
      Map<Integer, SectorTag.Content> foreign = new HashMap<>();
      try (FileChannel file = FileChannel.open(raw, StandardOpenOption.READ)) {
        if (file.size() != size) {
          throw new AssertionError("qemu-img read " + file.size() + " bytes of a " + size + "-byte disk");
        }
        ByteBuffer chunk = ByteBuffer.allocate(1 << 20);
        for (long at = 0; at < size; at += chunk.capacity()) {
          chunk.clear().limit((int) Math.min(chunk.capacity(), size - at));
          while (chunk.hasRemaining()) {
            if (file.read(chunk, at + chunk.position()) < 0) {
              throw new IOException("short read of " + raw);
            }
          }
          for (int i = 0; i < chunk.limit(); i += SectorTag.SECTOR) {
            int sector = (int) ((at + i) / SectorTag.SECTOR);
            SectorTag.Content content = SectorTag.decode(chunk.position(i));
            switch (content.kind()) {
              case ZEROES -> values[sector] = 0;
              case TAGGED -> {
                if (content.is((long) sector * SectorTag.SECTOR, seed)) {
                  values[sector] = content.seq();
                } else {
                  values[sector] = -1;
                  foreign.put(sector, content);
                }
              }
              case GARBAGE -> {
                values[sector] = -1;
                foreign.put(sector, content);
              }
            }
          }
        }
      }
      return new ImageReadback(values, foreign);
    } finally {
      Files.deleteIfExists(raw);
    }
  }

  public int sectorCount() {
    return values.length;
  }

  /** The sequence number of the sector's own tag, 0 for zeros, -1 for anything else. */
  public long value(int sector) {
    return values[sector];
  }

  /** What a sector holds that is not its own tag (null if it holds its own tag or zeros). */
  public SectorTag.Content foreign(int sector) {
    return foreign.get(sector);
  }

  /** This content as the starting point of the next round (only meaningful when every sector held an allowed value). */
  public GuestContent asGuestContent() {
    return new GuestContent(values.clone());
  }
}
