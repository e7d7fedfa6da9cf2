package io.qcow4j.qcow2;

import io.qcow4j.disk.CheckFailedException;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.ImageException;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.HeaderCodec;
import io.qcow4j.qcow2.format.SnapshotTableCodec;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The first step of a check, QEMU 7.2's qcow2_check_read_snapshot_table: the snapshot table read
 * from the header's pointer (an image opened for a check reads none at open) and installed in the
 * image. With -r all, entries past QEMU's 65536 and past the 64 MiB table are dropped (the header's
 * count written at once) and extra data over 1024 bytes cut; without, such a table stops the check
 * as qemu-img's does ("Check failed: File too large"). Lines starting with {@link #REPORTED} are
 * QEMU's error_report lines, which the command prints after its program name.
 */
record SnapshotTableCheck(int overhanging, int extraDataDropped, List<String> messages) {
  /** The start of the lines qemu-img prints through error_report (after "qemu-img: "). */
  static final List<String> REPORTED = List.of("ERROR snapshot table ", "ERROR failed to read the snapshot table");

  static SnapshotTableCheck run(QcowFile image, CheckResult.Repair repair) throws IOException {
    boolean fix = repair == CheckResult.Repair.ALL;
    String name = image.storage().name();
    Header header = image.header();
    List<String> messages = new ArrayList<>();
    long count = Integer.toUnsignedLong(header.snapshotCount());
    long offset = header.snapshotsOffset();
    int overhanging = 0;
    if (count > HeaderCodec.MAX_SNAPSHOTS && fix) {
      overhanging = (int) (count - HeaderCodec.MAX_SNAPSHOTS);
      messages.add("Discarding " + overhanging + " overhanging snapshots");
      count = HeaderCodec.MAX_SNAPSHOTS;
    }
    if (count > HeaderCodec.MAX_SNAPSHOTS) {
      messages.add("ERROR snapshot table too large");
      messages.add("You can force-remove all " + (count - HeaderCodec.MAX_SNAPSHOTS)
          + " overhanging snapshots with qemu-img check -r all");
      throw new CheckFailedException(name + ": snapshot table too large", "File too large", messages);
    }
    if (offset < 0 || Long.MAX_VALUE - count * 40 < offset || (offset & (header.clusterSize() - 1)) != 0) {
      messages.add("ERROR snapshot table offset invalid");
      throw new CheckFailedException(name + ": snapshot table offset invalid", "Invalid argument", messages);
    }
    SnapshotTableReader.Result table;
    try {
      table = SnapshotTableReader.read(name, image.storage(), offset, count, fix);
    } catch (ImageException e) {
      String reason = e.getMessage().startsWith(name + ": ") ? e.getMessage().substring(name.length() + 2)
          : e.getMessage();
      messages.add("ERROR failed to read the snapshot table: " + reason);
      throw new CheckFailedException(name + ": " + reason, e instanceof ImageLimitException ? "File too large"
          : "Invalid argument", messages);
    }
    messages.addAll(table.messages());
    overhanging += table.overhanging();
    if (overhanging > 0) {
      // the header's count now, so that the refcount check sees the table it will keep
      image.writeHeader(image.header().withSnapshotTable(table.snapshots().size(), offset));
      image.storage().force(false);
    }
    image.installCheckedSnapshots(table.snapshots(), table.tableBytes());
    return new SnapshotTableCheck(overhanging, table.extraDataDropped(), List.copyOf(messages));
  }
}
