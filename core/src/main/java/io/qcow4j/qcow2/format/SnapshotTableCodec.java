package io.qcow4j.qcow2.format;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageLimitException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Decodes and encodes the snapshot table, validating each entry's fields and bounds. */
public final class SnapshotTableCodec {
  public static final long MAX_TABLE_BYTES = 64L << 20;
  static final int FIXED_BYTES = 40;
  /** QEMU's limit on the extra data of one entry. */
  private static final int MAX_EXTRA_DATA = 1024;

  private SnapshotTableCodec() {}

  /** The size in bytes of the snapshot table entry starting at the front of {@code in}, or -1 if the fixed part is cut. */
  public static long entryLength(ByteBuffer in) {
    long unpadded = unpaddedLength(in);
    return unpadded < 0 ? -1 : align8(unpadded);
  }

  /** The entry's size without the padding to 8 bytes, or -1 if the fixed part is cut. */
  private static long unpaddedLength(ByteBuffer in) {
    if (in.remaining() < FIXED_BYTES) {
      return -1;
    }
    int at = in.position();
    long extra = Integer.toUnsignedLong(in.getInt(at + 36));
    int idSize = in.getShort(at + 12) & 0xffff;
    int nameSize = in.getShort(at + 14) & 0xffff;
    return FIXED_BYTES + extra + idSize + nameSize;
  }

  /**
   * Decodes {@code count} entries from {@code table}, which holds the bytes at {@code tableOffset}.
   * As QEMU's qcow2_read_snapshots, the L1 table of a snapshot is not checked here but where it is
   * used ({@link #validateL1}).
   */
  public static List<Snapshot> decode(String file, ByteBuffer table, long tableOffset, int count) throws IOException {
    ByteBuffer in = table.slice().order(java.nio.ByteOrder.BIG_ENDIAN);
    List<Snapshot> snapshots = new ArrayList<>(Math.min(count, 1024));
    for (int index = 0; index < count; index++) {
      long entryOffset = tableOffset + in.position();
      // QEMU does not write the padding after the last entry, so a table that ends the file lacks it.
      long unpadded = unpaddedLength(in);
      if (unpadded < 0 || unpadded > in.remaining()) {
        throw new CorruptImageException(file + ": snapshot table entry " + index + " at offset " + entryOffset
            + " runs past the end of the table");
      }
      long length = align8(unpadded);
      int at = in.position();
      long l1Offset = in.getLong(at);
      int l1Size = in.getInt(at + 8);
      int idSize = in.getShort(at + 12) & 0xffff;
      int nameSize = in.getShort(at + 14) & 0xffff;
      long dateSeconds = Integer.toUnsignedLong(in.getInt(at + 16));
      long dateNanoseconds = Integer.toUnsignedLong(in.getInt(at + 20));
      long vmClock = in.getLong(at + 24);
      long vmStateSize = Integer.toUnsignedLong(in.getInt(at + 32));
      int extraSize = in.getInt(at + 36);
      if (extraSize < 0 || extraSize > MAX_EXTRA_DATA) {
        throw tooMuchExtraData(file, index);
      }
      long diskSize = -1;
      long icount = -1;
      int extra = at + FIXED_BYTES;
      if (extraSize >= 8) {
        vmStateSize = in.getLong(extra);
      }
      if (extraSize >= 16) {
        diskSize = in.getLong(extra + 8);
      }
      if (extraSize >= 24) {
        icount = in.getLong(extra + 16);
      }
      byte[] unknownExtra = new byte[Math.max(0, extraSize - 24)];
      if (unknownExtra.length > 0) {
        in.get(extra + 24, unknownExtra);
      }
      String id = string(in, extra + extraSize, idSize);
      String name = string(in, extra + extraSize + idSize, nameSize);

      snapshots.add(new Snapshot(l1Offset, l1Size, id, name, dateSeconds, dateNanoseconds, vmClock, vmStateSize,
          diskSize, icount, unknownExtra));
      in.position((int) Math.min(at + length, in.limit()));
    }
    return snapshots;
  }

  /**
   * QEMU's refusal of an entry with more than 1024 bytes of extra data, with its hint; check -r all
   * drops the excess.
   */
  public static ImageLimitException tooMuchExtraData(String file, int index) {
    return new ImageLimitException(file + ": Too much extra metadata in snapshot table entry " + index
        + "\nYou can force-remove this extra metadata with qemu-img check -r all");
  }

  /** QEMU's words for a snapshot L1 table over {@link HeaderCodec#MAX_L1_BYTES}. */
  public static final String L1_TOO_LARGE = "Snapshot L1 table too large";
  /** QEMU's words for a snapshot L1 table at an offset it refuses. */
  public static final String L1_OFFSET_INVALID = "Snapshot L1 table offset invalid";

  /**
   * What QEMU's qcow2_validate_table finds wrong with a snapshot's L1 table, in its words, or null:
   * over {@link HeaderCodec#MAX_L1_BYTES} ({@link #L1_TOO_LARGE}), or not cluster-aligned with room
   * below 2^63 ({@link #L1_OFFSET_INVALID}; qcow4j also refuses a non-empty table at offset 0, where
   * the header lies). Past the end of the file the table reads as zeros, as in QEMU. QEMU checks it
   * where the table is used (load, apply, delete, downgrade), not when it reads the snapshot table.
   */
  public static String l1Problem(Snapshot snapshot, int clusterSize) {
    long entries = Integer.toUnsignedLong(snapshot.l1Size());
    if (entries > HeaderCodec.MAX_L1_BYTES / 8) {
      return L1_TOO_LARGE;
    }
    long offset = snapshot.l1TableOffset();
    if (offset < 0 || Long.MAX_VALUE - entries * 8 < offset || (offset & (clusterSize - 1)) != 0
        || (offset == 0 && entries > 0)) {
      return L1_OFFSET_INVALID;
    }
    return null;
  }

  /** Refuses a snapshot L1 table {@link #l1Problem} finds wrong, naming the file, with QEMU's words. */
  public static void validateL1(String file, Snapshot snapshot, int clusterSize) throws IOException {
    String problem = l1Problem(snapshot, clusterSize);
    if (problem == L1_TOO_LARGE) {
      throw new ImageLimitException(file + ": " + problem);
    } else if (problem != null) {
      throw new CorruptImageException(file + ": " + problem);
    }
  }

  /**
   * Encodes the table; every entry carries the three known extra fields. Each entry starts on an
   * 8-byte boundary and the last one ends where its name does, as QEMU's qcow2_write_snapshots
   * sizes the table (so a table at the end of the file leaves it as long as QEMU's does).
   */
  public static byte[] encode(List<Snapshot> snapshots) {
    int total = 0;
    for (Snapshot snapshot : snapshots) {
      total = (int) align8(total) + (int) unpaddedLength(snapshot);
    }
    ByteBuffer out = ByteBuffer.allocate(total);
    for (Snapshot snapshot : snapshots) {
      int start = out.position();
      byte[] id = snapshot.id().getBytes(StandardCharsets.UTF_8);
      byte[] name = snapshot.name().getBytes(StandardCharsets.UTF_8);
      byte[] unknown = snapshot.unknownExtraData();
      int extraSize = 24 + unknown.length;
      out.putLong(snapshot.l1TableOffset()).putInt(snapshot.l1Size()).putShort((short) id.length)
          .putShort((short) name.length).putInt((int) snapshot.dateSeconds()).putInt((int) snapshot.dateNanoseconds())
          .putLong(snapshot.vmClockNanoseconds()).putInt(vmStateSize32(snapshot.vmStateSize()))
          .putInt(extraSize).putLong(snapshot.vmStateSize()).putLong(snapshot.diskSize()).putLong(snapshot.icount())
          .put(unknown).put(id).put(name);
      out.position((int) Math.min(total, align8(start + unpaddedLength(snapshot))));
    }
    return out.array();
  }

  /**
   * The 32-bit VM state size: 0 ("no VM state") when the size does not fit, so that a reader that
   * ignores the extra data sees a disk-only snapshot rather than a truncated state, as QEMU writes it.
   */
  private static int vmStateSize32(long vmStateSize) {
    return vmStateSize >= 0 && vmStateSize <= 0xffffffffL ? (int) vmStateSize : 0;
  }

  private static long unpaddedLength(Snapshot snapshot) {
    return FIXED_BYTES + 24 + snapshot.unknownExtraData().length
        + snapshot.id().getBytes(StandardCharsets.UTF_8).length + snapshot.name().getBytes(StandardCharsets.UTF_8).length;
  }

  private static String string(ByteBuffer in, int at, int length) {
    byte[] bytes = new byte[length];
    in.get(at, bytes);
    return new String(bytes, StandardCharsets.UTF_8);
  }

  private static long align8(long value) {
    return (value + 7) & ~7L;
  }
}
