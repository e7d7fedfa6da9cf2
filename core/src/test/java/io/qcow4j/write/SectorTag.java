package io.qcow4j.write;

import java.nio.ByteBuffer;
import java.util.HexFormat;

/**
 * Self-describing 512-byte sectors: each carries the guest sector it was written for and the
 * sequence number of the operation that wrote it, so a sector read back tells where it came from
 * (data of another offset, a torn or stale sector, or zeros). The body repeats a short pattern
 * derived from both, so tagged data compresses well and a mixed sector is caught.
 */
final class SectorTag {
  static final int SECTOR = 512;
  private static final long MAGIC = 0x71346a5461675331L;

  private SectorTag() {}

  /** What a sector read back holds. */
  enum Kind { ZERO, TAGGED, GARBAGE }

  /** A decoded sector: zeros, a well-formed tag of (sector, sequence), or something else described. */
  record Reading(Kind kind, long sector, long sequence, String detail) {
    @Override
    public String toString() {
      return switch (kind) {
        case ZERO -> "zeros";
        case TAGGED -> "data of sequence " + sequence + " written for guest sector " + sector
            + " (offset " + sector * SECTOR + ")";
        case GARBAGE -> "bytes that are neither zeros nor a whole tagged sector: " + detail;
      };
    }
  }

  /**
   * Whether a sector read while other threads may be writing it carries data written for another
   * sector. Only a tag naming another sector counts: a read racing a write of the same sector may
   * see part of each (neither the API nor the host page cache makes that atomic).
   */
  static boolean namesAnotherSector(Reading reading, long sector) {
    return reading.sector() >= 0 && reading.sector() != sector;
  }

  /** Data for the sectors of [offset, offset + length) as the operation {@code sequence} writes them. */
  static byte[] data(long offset, int length, long sequence) {
    if (offset % SECTOR != 0 || length % SECTOR != 0) {
      throw new IllegalArgumentException("tagged data needs whole sectors: " + offset + " +" + length);
    }
    byte[] data = new byte[length];
    for (int at = 0; at < length; at += SECTOR) {
      fill(data, at, offset / SECTOR + at / SECTOR, sequence);
    }
    return data;
  }

  /** Writes the tag of (sector, sequence) into {@code buffer} at {@code at}. */
  static void fill(byte[] buffer, int at, long sector, long sequence) {
    ByteBuffer view = ByteBuffer.wrap(buffer, at, SECTOR);
    view.putLong(MAGIC).putLong(sector).putLong(sequence);
    long body = body(sector, sequence);
    while (view.position() < at + SECTOR) {
      view.putLong(body);
    }
  }

  /** Decodes the sector at {@code at} of {@code buffer}. */
  static Reading read(byte[] buffer, int at) {
    ByteBuffer view = ByteBuffer.wrap(buffer, at, SECTOR);
    boolean zero = true;
    for (int index = at; index < at + SECTOR; index++) {
      if (buffer[index] != 0) {
        zero = false;
        break;
      }
    }
    if (zero) {
      return new Reading(Kind.ZERO, -1, -1, "");
    }
    long magic = view.getLong();
    long sector = view.getLong();
    long sequence = view.getLong();
    if (magic != MAGIC) {
      return new Reading(Kind.GARBAGE, -1, -1, "no tag; starts " + hex(buffer, at, 32));
    }
    long body = body(sector, sequence);
    while (view.position() < at + SECTOR) {
      int position = view.position() - at;
      if (view.getLong() != body) {
        return new Reading(Kind.GARBAGE, sector, sequence, "tag of sequence " + sequence + " for sector " + sector
            + " but its body differs from byte " + position + " on (a torn or mixed sector): "
            + hex(buffer, at + position, 16));
      }
    }
    return new Reading(Kind.TAGGED, sector, sequence, "");
  }

  private static long body(long sector, long sequence) {
    long mixed = sector * 0x9E3779B97F4A7C15L ^ (sequence + 0x632BE59BD9B4E019L) * 0xC2B2AE3D27D4EB4FL;
    mixed ^= mixed >>> 31;
    return mixed | 1;
  }

  private static String hex(byte[] buffer, int from, int length) {
    return HexFormat.of().formatHex(buffer, from, Math.min(buffer.length, from + length));
  }
}
