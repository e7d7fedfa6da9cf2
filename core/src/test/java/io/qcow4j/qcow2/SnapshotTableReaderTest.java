package io.qcow4j.qcow2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.storage.MemoryStorage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * The snapshot table read as QEMU 7.2's qcow2_do_read_snapshots reads it: its limits refused at
 * open with QEMU's words and hints, repaired as check -r all repairs them, and the memory a
 * hostile table can take bounded by the 64 MiB limit.
 */
class SnapshotTableReaderTest {
  private static final long TABLE = 65536;

  /** An entry with {@code extra} bytes of extra data (the first 24 known), id and name of the given sizes. */
  private static int entry(ByteBuffer file, int at, long extraSize, int extraWritten, String id, int idSize,
      String name, int nameSize) {
    file.putLong(at, 0x30000).putInt(at + 8, 1).putShort(at + 12, (short) idSize).putShort(at + 14, (short) nameSize)
        .putInt(at + 36, (int) extraSize);
    int cursor = at + 40;
    file.putLong(cursor + 8, 1L << 20);
    cursor += extraWritten;
    file.put(cursor, id.getBytes(StandardCharsets.UTF_8));
    cursor += idSize;
    file.put(cursor, name.getBytes(StandardCharsets.UTF_8));
    cursor += nameSize;
    return (cursor + 7) & ~7;
  }

  @Test
  void refusesTooMuchExtraDataAtOpenAndCutsItInARepair() throws IOException {
    ByteBuffer file = ByteBuffer.allocate(1 << 20);
    int next = entry(file, (int) TABLE, 24, 24, "1", 1, "a", 1);
    next = entry(file, next, 65536, 65536, "2", 1, "b", 1);
    file.put(next - 65536 - 2 + 24, (byte) 0x5a);
    entry(file, next, 24, 24, "3", 1, "c", 1);
    MemoryStorage storage = new MemoryStorage("t.qcow2", file.array(), true);
    assertThatThrownBy(() -> SnapshotTableReader.read("t.qcow2", storage, TABLE, 3, false))
        .isInstanceOf(ImageLimitException.class)
        .hasMessage("t.qcow2: Too much extra metadata in snapshot table entry 1\n"
            + "You can force-remove this extra metadata with qemu-img check -r all");
    SnapshotTableReader.Result repaired = SnapshotTableReader.read("t.qcow2", storage, TABLE, 3, true);
    assertThat(repaired.messages()).containsExactly(
        "Discarding too much extra metadata in snapshot table entry 1 (65536 > 1024)");
    assertThat(repaired.extraDataDropped()).isEqualTo(1);
    // the entry after it is found at its real place; the cut entry keeps 1000 bytes of unknown extra data
    assertThat(repaired.snapshots()).extracting(s -> s.id() + s.name()).containsExactly("1a", "2b", "3c");
    assertThat(repaired.snapshots().get(1).unknownExtraData()).hasSize(1000);
    assertThat(repaired.tableBytes()).isEqualTo(next + 40 + 24 + 2 - TABLE);
  }

  @Test
  void refusesATableOver64MiBAtOpenAndDropsTheOverhangingEntriesInARepair() throws IOException {
    // entries of 40 + 1024 + 65535 + 65535 bytes, as iotest 261 makes them, past 64 MiB in all
    int entryBytes = 40 + 1024 + 65535 + 65535;
    int count = (int) (SnapshotTableReader.MAX_TABLE_BYTES / entryBytes) + 1;
    ByteBuffer file = ByteBuffer.allocate((int) TABLE + (count + 1) * (entryBytes + 8));
    int at = (int) TABLE;
    for (int index = 0; index < count; index++) {
      at = entry(file, at, 1024, 1024, "", 65535, "", 65535);
    }
    MemoryStorage storage = new MemoryStorage("t.qcow2", file.array(), true);
    assertThatThrownBy(() -> SnapshotTableReader.read("t.qcow2", storage, TABLE, count, false))
        .isInstanceOf(ImageLimitException.class)
        .hasMessage("t.qcow2: Snapshot table is too big\n"
            + "You can force-remove all 1 overhanging snapshots with qemu-img check -r all");
    SnapshotTableReader.Result repaired = SnapshotTableReader.read("t.qcow2", storage, TABLE, count, true);
    assertThat(repaired.messages()).containsExactly("Discarding 1 overhanging snapshots (snapshot table is too big)");
    assertThat(repaired.overhanging()).isEqualTo(1);
    assertThat(repaired.snapshots()).hasSize(count - 1);
    assertThat(repaired.tableBytes()).isLessThanOrEqualTo(SnapshotTableReader.MAX_TABLE_BYTES + 8);
    // names of NULs are empty C strings, as QEMU keeps them: the table costs no 64 MiB of strings
    assertThat(repaired.snapshots().getFirst().name()).isEmpty();
  }

  @Test
  void readsZerosPastTheEndOfTheFile() throws IOException {
    ByteBuffer file = ByteBuffer.allocate((int) TABLE + 64);
    entry(file, (int) TABLE, 16, 16, "1", 1, "x", 1);
    SnapshotTableReader.Result read = SnapshotTableReader.read("t.qcow2",
        new MemoryStorage("t.qcow2", file.array(), true), TABLE, 2, false);
    assertThat(read.snapshots()).hasSize(2);
    assertThat(read.snapshots().get(1).l1Size()).isZero();
    assertThat(read.snapshots().get(1).diskSize()).isEqualTo(-1);
  }
}
