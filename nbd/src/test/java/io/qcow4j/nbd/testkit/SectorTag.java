package io.qcow4j.nbd.testkit;

import java.nio.ByteBuffer;
import java.util.HexFormat;

/**
 * The content of one tagged 512-byte sector: a magic, the guest offset it was written for, the
 * sequence number of the write and the run's seed, then bytes derived from those three, so that a
 * sector holding another offset's data, an older write's data or torn data is recognised.
 */
public final class SectorTag {
  public static final int SECTOR = 512;
  private static final long MAGIC = 0x5134_4A54_4147_2121L; // "Q4JTAG!!"
  private static final int HEADER = 32;

  /** What a sector of an image holds. */
  public enum Kind {
    ZEROES, TAGGED, GARBAGE
  }

  /** A decoded sector: zeros, a whole tag, or anything else (with a hint of what). */
  public record Content(Kind kind, long offset, long seq, long seed, String detail) {
    static final Content ZERO = new Content(Kind.ZEROES, -1, 0, 0, "zeros");

    /** Whether this is the tag of write {@code seq} at {@code offset} in run {@code seed}. */
    public boolean is(long expectedOffset, long expectedSeed) {
      return kind == Kind.TAGGED && offset == expectedOffset && seed == expectedSeed;
    }

    @Override
    public String toString() {
      return switch (kind) {
        case ZEROES -> "zeros";
        case TAGGED -> "tag(offset 0x" + Long.toHexString(offset) + ", seq " + seq + ", seed " + seed + ")";
        case GARBAGE -> "garbage(" + detail + ")";
      };
    }
  }

  private SectorTag() {}

  /** The payload of a write of {@code length} bytes at {@code offset} (both multiples of 512), every sector tagged. */
  public static byte[] data(long offset, int length, long seq, long seed) {
    if (offset % SECTOR != 0 || length % SECTOR != 0) {
      throw new IllegalArgumentException("unaligned tagged write: " + offset + "+" + length);
    }
    ByteBuffer data = ByteBuffer.allocate(length);
    for (int at = 0; at < length; at += SECTOR) {
      put(data, offset + at, seq, seed);
    }
    return data.array();
  }

  /** Writes the 512 bytes of the tag at the buffer's position and advances it. */
  public static void put(ByteBuffer buffer, long offset, long seq, long seed) {
    buffer.putLong(MAGIC).putLong(offset).putLong(seq).putLong(seed);
    long state = mix(offset, seq, seed);
    for (int i = HEADER; i < SECTOR; i += 8) {
      state += 0x9E37_79B9_7F4A_7C15L;
      buffer.putLong(finish(state));
    }
  }

  /** Decodes the 512 bytes at {@code buffer}'s position (which does not move). */
  public static Content decode(ByteBuffer buffer) {
    int start = buffer.position();
    boolean zero = true;
    for (int i = 0; i < SECTOR; i += 8) {
      if (buffer.getLong(start + i) != 0) {
        zero = false;
        break;
      }
    }
    if (zero) {
      return Content.ZERO;
    }
    if (buffer.getLong(start) != MAGIC) {
      return garbage(buffer, start, "no tag");
    }
    long offset = buffer.getLong(start + 8);
    long seq = buffer.getLong(start + 16);
    long seed = buffer.getLong(start + 24);
    long state = mix(offset, seq, seed);
    for (int i = HEADER; i < SECTOR; i += 8) {
      state += 0x9E37_79B9_7F4A_7C15L;
      if (buffer.getLong(start + i) != finish(state)) {
        return garbage(buffer, start, "tag of offset 0x" + Long.toHexString(offset) + " seq " + seq
            + " damaged at byte " + i);
      }
    }
    return new Content(Kind.TAGGED, offset, seq, seed, "");
  }

  private static Content garbage(ByteBuffer buffer, int start, String why) {
    byte[] head = new byte[16];
    buffer.get(start, head);
    return new Content(Kind.GARBAGE, -1, 0, 0, why + ", starts " + HexFormat.of().formatHex(head));
  }

  private static long mix(long offset, long seq, long seed) {
    return finish(finish(offset ^ 0x5851_F42D_4C95_7F2DL) ^ finish(seq + 0x1405_7B7E_F767_814FL) ^ seed);
  }

  /** The SplitMix64 finaliser. */
  private static long finish(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58_476D_1CE4_E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D0_49BB_1331_11EBL;
    return z ^ (z >>> 31);
  }
}
