package io.qcow4j.vhdx;

import io.qcow4j.internal.formats.FormatReads;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.UUID;

/**
 * Replays a VHDX log into the file as QEMU 7.2's read-write open does it (vhdx_parse_log,
 * vhdx_log_flush): the headers updated twice for the first guest-visible write (a new
 * FileWriteGuid for the session, a new DataWriteGuid in each), every entry of the active
 * sequence written in order (data sectors, then zero runs sector by sector), the file grown to an
 * entry's last_file_offset rounded up to 1 MiB, a flush, and the headers updated twice more with
 * an empty log (LogGuid zero). A header update writes the header that is not current with the
 * current one's sequence number plus one, over the 4 KiB that header held (its other fields and
 * reserved bytes kept), and makes it current.
 */
final class VhdxRepair {
  private static final long MIB = 1 << 20;

  private final Storage storage;
  private final UUID session = UUID.randomUUID();
  private int current;

  private VhdxRepair(Storage storage) {
    this.storage = storage;
  }

  /**
   * Writes the active sequence of the log into the file held by {@code storage} (opened
   * read-write, its structures already checked by an open); false when the log holds none.
   */
  static boolean replay(Storage storage) throws IOException {
    return new VhdxRepair(storage).replay();
  }

  private boolean replay() throws IOException {
    VhdxHeader first = header(0);
    VhdxHeader second = header(1);
    current = currentIndex(first, second);
    VhdxHeader active = current == 0 ? first : second;
    List<LogEntry> sequence = VhdxLog.activeSequence(storage, active);
    if (sequence.isEmpty()) {
      return false;
    }
    updateHeader(true, null);
    updateHeader(true, null);
    for (LogEntry entry : sequence) {
      long fileLength = storage.size();
      for (LogEntry.Write write : entry.writes()) {
        if (write.data() != null) {
          storage.write(ByteBuffer.wrap(write.data()), write.fileOffset());
        } else {
          ByteBuffer zeros = ByteBuffer.allocate(LogEntry.SECTOR);
          for (long at = 0; at + LogEntry.SECTOR <= write.zeroLength(); at += LogEntry.SECTOR) {
            storage.write(zeros.clear(), write.fileOffset() + at);
          }
        }
      }
      if (fileLength < entry.lastFileOffset()) {
        long newSize = entry.lastFileOffset();
        if (newSize % MIB != 0) {
          newSize = (newSize / MIB + 1) * MIB;
        }
        storage.truncate(newSize);
      }
    }
    storage.force(false);
    updateHeader(false, VhdxGuid.ZERO);
    updateHeader(false, VhdxGuid.ZERO);
    storage.force(false);
    return true;
  }

  private VhdxHeader header(int index) throws IOException {
    return VhdxHeader.decode(FormatReads.readOrZero(storage, VhdxHeader.OFFSETS[index], VhdxHeader.SIZE));
  }

  /** vhdx_parse_header's choice: the one usable header, or the one with the higher sequence number. */
  private static int currentIndex(VhdxHeader first, VhdxHeader second) {
    if (first.usable() != second.usable()) {
      return first.usable() ? 0 : 1;
    }
    return Long.compareUnsigned(first.sequenceNumber(), second.sequenceNumber()) >= 0 ? 0 : 1;
  }

  /** vhdx_update_header: the header that is not current rewritten, then made current. */
  private void updateHeader(boolean newDataWriteGuid, UUID logGuid) throws IOException {
    int target = 1 - current;
    long sequence = header(current).sequenceNumber() + 1;
    byte[] bytes = FormatReads.readOrZero(storage, VhdxHeader.OFFSETS[target], VhdxHeader.SIZE);
    ByteBuffer fields = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    fields.putLong(8, sequence);
    VhdxGuid.write(bytes, 16, session);
    if (newDataWriteGuid) {
      VhdxGuid.write(bytes, 32, UUID.randomUUID());
    }
    if (logGuid != null) {
      VhdxGuid.write(bytes, 48, logGuid);
    }
    VhdxChecksum.fill(bytes, 0, VhdxHeader.SIZE, 4);
    storage.write(ByteBuffer.wrap(bytes), VhdxHeader.OFFSETS[target]);
    current = target;
  }
}
