package io.qcow4j.nbd;

import io.qcow4j.disk.DiskFile;
import java.util.List;

/**
 * What one server exports: the disk, its name and description, whether writes are refused, and
 * whether clients may spread their requests over several connections, and whether it zeroes fast. That holds when the server
 * takes more than one client at once: every connection shares the one thread-safe DiskFile, so a
 * FLUSH or FUA on one connection forces what all of them wrote (qemu-nbd also advertises it only
 * when --shared allows a second connection; a client that opened more connections than allowed
 * would hang). {@code unmap}: whether TRIM frees space and a write of zeroes may unmap (qemu-nbd's
 * --discard=unmap); without it TRIM succeeds and changes nothing, as qemu-nbd's default ignores it.
 * Its metadata contexts: base:allocation always, qemu:allocation-depth when {@code allocationDepth},
 * and qemu:dirty-bitmap:NAME for each of {@code bitmaps}.
 */
record Export(
    DiskFile disk, String name, String description, boolean readOnly, long size, boolean multiConn,
    boolean fastZeroes, boolean unmap, boolean allocationDepth, List<NbdServer.ExportedBitmap> bitmaps) {

  Export {
    bitmaps = List.copyOf(bitmaps);
  }

  /** Whether a client asking for {@code requested} gets this export; the empty name is the default export. */
  boolean answersTo(String requested) {
    return requested.isEmpty() || requested.equals(name);
  }

  /** The transmission flags, true to what the server does for a client with these negotiated features. */
  int transmissionFlags(boolean structuredReplies) {
    int flags = Protocol.FLAG_HAS_FLAGS | Protocol.FLAG_SEND_FLUSH | Protocol.FLAG_SEND_FUA
        | Protocol.FLAG_SEND_CACHE;
    if (multiConn) {
      flags |= Protocol.FLAG_CAN_MULTI_CONN;
    }
    if (readOnly) {
      flags |= Protocol.FLAG_READ_ONLY;
    } else {
      flags |= Protocol.FLAG_SEND_TRIM | Protocol.FLAG_SEND_WRITE_ZEROES | Protocol.FLAG_SEND_FAST_ZERO;
    }
    if (structuredReplies) {
      flags |= Protocol.FLAG_SEND_DF;
    }
    return flags;
  }
}
