package io.qcow4j.qcow2;

import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.qcow2.format.Snapshot;
import io.qcow4j.qcow2.format.SnapshotTableCodec;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the snapshot table entry by entry as QEMU 7.2's qcow2_do_read_snapshots does: each entry
 * at the next 8-byte boundary, the bytes past the end of the file as zeros, at most 1024 bytes of
 * extra data per entry and 64 MiB of table ({@link #MAX_TABLE_BYTES}, the padding after the last
 * entry not counted). Opening refuses a table over either limit with QEMU's words and hint; check
 * -r all ({@code repair}) drops the excess extra data and the overhanging entries instead, with
 * QEMU's messages. So the memory a table can make us take is bounded by that limit and one entry.
 */
final class SnapshotTableReader {
  /** QEMU's QCOW_MAX_SNAPSHOTS_SIZE: the entries' bytes, without the padding after the last. */
  static final long MAX_TABLE_BYTES = SnapshotTableCodec.MAX_TABLE_BYTES;
  private static final int FIXED = 40;
  private static final int KNOWN_EXTRA = 24;
  private static final int MAX_EXTRA = 1024;

  /**
   * The table read: its entries, the bytes they take in the file from the table's offset, the
   * overhanging entries and the entries whose extra data were dropped (repair only), and the lines
   * the repair printed.
   */
  record Result(List<Snapshot> snapshots, long tableBytes, int overhanging, int extraDataDropped,
      List<String> messages) {
    /** No table: an image without snapshots, or one opened for a check, which reads the table itself. */
    static final Result EMPTY = new Result(List.of(), 0, 0, 0, List.of());
  }

  private SnapshotTableReader() {}

  /**
   * Reads {@code count} entries from {@code tableOffset}; {@code diskSize} is not used for the
   * entries' disk size (an entry without one keeps -1, the current disk size when it is written).
   */
  static Result read(String name, Storage storage, long tableOffset, long count, boolean repair) throws IOException {
    List<Snapshot> snapshots = new ArrayList<>((int) Math.min(count, 1024));
    List<String> messages = new ArrayList<>();
    int dropped = 0;
    int overhanging = 0;
    long offset = tableOffset;
    long tableLength = 0;
    for (long index = 0; index < count; index++) {
      long entryStart = offset;
      tableLength = align8(tableLength);
      offset = align8(offset);
      ByteBuffer fixed = read(storage, offset, FIXED);
      offset += FIXED;
      long l1Offset = fixed.getLong(0);
      int l1Size = fixed.getInt(8);
      int idSize = fixed.getShort(12) & 0xffff;
      int nameSize = fixed.getShort(14) & 0xffff;
      long dateSeconds = Integer.toUnsignedLong(fixed.getInt(16));
      long dateNanoseconds = Integer.toUnsignedLong(fixed.getInt(20));
      long vmClock = fixed.getLong(24);
      long vmStateSize = Integer.toUnsignedLong(fixed.getInt(32));
      long extraSize = Integer.toUnsignedLong(fixed.getInt(36));
      long keptExtra = extraSize;
      if (extraSize > MAX_EXTRA) {
        if (!repair) {
          throw SnapshotTableCodec.tooMuchExtraData(name, (int) index);
        }
        messages.add("Discarding too much extra metadata in snapshot table entry " + index + " (" + extraSize
            + " > " + MAX_EXTRA + ")");
        dropped++;
        keptExtra = MAX_EXTRA;
      }
      int known = (int) Math.min(KNOWN_EXTRA, extraSize);
      ByteBuffer extra = read(storage, offset, known);
      offset += known;
      if (extraSize >= 8) {
        vmStateSize = extra.getLong(0);
      }
      long diskSize = extraSize >= 16 ? extra.getLong(8) : -1;
      long icount = extraSize >= 24 ? extra.getLong(16) : -1;
      byte[] unknown = new byte[0];
      if (extraSize > KNOWN_EXTRA) {
        unknown = read(storage, offset, (int) (keptExtra - KNOWN_EXTRA)).array();
        offset += extraSize - KNOWN_EXTRA;
      }
      String id = string(storage, offset, idSize);
      offset += idSize;
      String snapshotName = string(storage, offset, nameSize);
      offset += nameSize;
      tableLength += FIXED + keptExtra + idSize + nameSize;
      if (tableLength > MAX_TABLE_BYTES || offset - tableOffset > Integer.MAX_VALUE) {
        long left = count - index;
        if (!repair) {
          throw new ImageLimitException(name + ": Snapshot table is too big\nYou can force-remove all " + left
              + " overhanging snapshots with qemu-img check -r all");
        }
        messages.add("Discarding " + left + " overhanging snapshots (snapshot table is too big)");
        overhanging = (int) left;
        offset = entryStart;
        break;
      }
      snapshots.add(new Snapshot(l1Offset, l1Size, id, snapshotName, dateSeconds, dateNanoseconds, vmClock,
          vmStateSize, diskSize, icount, unknown));
    }
    return new Result(snapshots, offset - tableOffset, overhanging, dropped, messages);
  }

  private static ByteBuffer read(Storage storage, long offset, int length) throws IOException {
    ByteBuffer bytes = ByteBuffer.allocate(length);
    storage.readOrZero(bytes, offset);
    return bytes.flip();
  }

  /** The id or name: QEMU keeps it as a C string, so it ends at its first NUL (and is written so). */
  private static String string(Storage storage, long offset, int length) throws IOException {
    byte[] bytes = read(storage, offset, length).array();
    int end = 0;
    while (end < bytes.length && bytes[end] != 0) {
      end++;
    }
    return new String(bytes, 0, end, java.nio.charset.StandardCharsets.UTF_8);
  }

  private static long align8(long value) {
    return (value + 7) & ~7L;
  }
}
