package io.qcow4j.qcow2.format;

import static io.qcow4j.qcow2.format.QemuFixtures.be;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageLimitException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The snapshot table: 40 fixed bytes, extra data (large VM state, disk size, icount), ID, name, padding to 8. */
class SnapshotTableCodecTest {
  private static final String FILE = "images/snap.qcow2";
  private static final int CLUSTER = 65536;
  private static final long TABLE_OFFSET = 0x50000;
  private static final long FILE_SIZE = 0x60000;
  private static final long L1_LIMIT = HeaderCodec.MAX_L1_BYTES / 8;

  @TempDir Path dir;

  @Test
  void decodesTableQemuWrote() throws IOException {
    QemuFixtures.create(dir, "snap.qcow2", "", "16M");
    QemuFixtures.run(dir, "qemu-io", "-c", "write -P 0xab 0 64k", "snap.qcow2");
    long before = Instant.now().getEpochSecond();
    QemuFixtures.run(dir, "qemu-img", "snapshot", "-c", "first", "snap.qcow2");
    QemuFixtures.run(dir, "qemu-img", "snapshot", "-c", "second snap", "snap.qcow2");
    long after = Instant.now().getEpochSecond();
    Path image = dir.resolve("snap.qcow2");
    Header header = QemuFixtures.header(image);
    long fileSize = QemuFixtures.size(image);
    byte[] table = QemuFixtures.read(image, header.snapshotsOffset(), (int) (fileSize - header.snapshotsOffset()));

    List<Snapshot> snapshots = SnapshotTableCodec.decode(image.toString(), ByteBuffer.wrap(table),
        header.snapshotsOffset(), header.snapshotCount());

    assertThat(header.snapshotCount()).isEqualTo(2);
    assertThat(snapshots).extracting(Snapshot::id).containsExactly("1", "2");
    assertThat(snapshots).extracting(Snapshot::name).containsExactly("first", "second snap");
    long activeL2 = L1Entry.l2Offset(QemuFixtures.be64(image, header.l1TableOffset()));
    for (Snapshot snapshot : snapshots) {
      assertThat(snapshot.l1Size()).isEqualTo(header.l1Size());
      assertThat(snapshot.l1TableOffset() % header.clusterSize()).isZero();
      assertThat(snapshot.l1TableOffset()).isNotEqualTo(header.l1TableOffset());
      // Nothing was written after the snapshots: their L1 tables share the active L2 table.
      assertThat(L1Entry.l2Offset(QemuFixtures.be64(image, snapshot.l1TableOffset()))).isEqualTo(activeL2);
      assertThat(snapshot.dateSeconds()).isBetween(before - 2, after + 2);
      assertThat(snapshot.dateNanoseconds()).isBetween(0L, 999_999_999L);
      assertThat(snapshot.vmClockNanoseconds()).isZero();
      assertThat(snapshot.vmStateSize()).isZero();
      assertThat(snapshot.diskSize()).isEqualTo(16L << 20);
      // qemu-img has no record/replay: it stores 0 (the spec's "disabled" is -1).
      assertThat(snapshot.icount()).isIn(0L, -1L);
      assertThat(snapshot.unknownExtraData()).isEmpty();
    }

    // QEMU writes the table last and without the padding after the last entry (76 bytes, not 80).
    assertThat(table).hasSize(72 + 76);
    // QEMU writes 24 bytes of extra data, as we do: the table encodes back to the same bytes, the
    // last entry unpadded too.
    byte[] encoded = SnapshotTableCodec.encode(snapshots);
    assertThat(encoded).hasSize(align8(40 + 24 + 1 + 5) + 40 + 24 + 1 + 11);
    assertThat(encoded).isEqualTo(table);
  }

  @Test
  void roundTripsEveryField() throws IOException {
    List<Snapshot> snapshots = List.of(
        new Snapshot(0x30000, 2, "1", "before upgrade", 1_700_000_000L, 123_456_789L, 42_000_000_000L, 0, 1L << 30,
            -1, new byte[0]),
        new Snapshot(0x40000, 1, "snapshot-ä", "名前 with spaces", 0xffff_ffffL, 999_999_999L, Long.MAX_VALUE,
            5L << 30, 16L << 20, 123_456_789_012L, new byte[] {9, 8, 7, 6, 5, 4, 3, 2, 1}),
        new Snapshot(0, 0, "", "", 0, 0, 0, 0xffff_ffffL, 0, 0, new byte[16]));
    byte[] encoded = SnapshotTableCodec.encode(snapshots);
    assertThat(encoded.length % 8).isZero();

    List<Snapshot> decoded = SnapshotTableCodec.decode(FILE, ByteBuffer.wrap(encoded), TABLE_OFFSET, 3);

    assertThat(decoded).containsExactlyElementsOf(snapshots);
    assertThat(SnapshotTableCodec.encode(decoded)).isEqualTo(encoded);
    assertThat(decoded.get(1).unknownExtraData()).containsExactly(9, 8, 7, 6, 5, 4, 3, 2, 1);
  }

  @Test
  void encodesTheSpecLayout() {
    Snapshot snapshot = new Snapshot(0x30000, 2, "7", "abc", 1000, 2000, 3000, 4000, 5000, 6000, new byte[] {1, 2});
    byte[] entry = SnapshotTableCodec.encode(List.of(snapshot));

    assertThat(be(entry, 0, 8)).as("l1_table_offset").isEqualTo(0x30000);
    assertThat(be(entry, 8, 4)).as("l1_size").isEqualTo(2);
    assertThat(be(entry, 12, 2)).as("id_str_size").isEqualTo(1);
    assertThat(be(entry, 14, 2)).as("name_size").isEqualTo(3);
    assertThat(be(entry, 16, 4)).as("date_sec").isEqualTo(1000);
    assertThat(be(entry, 20, 4)).as("date_nsec").isEqualTo(2000);
    assertThat(be(entry, 24, 8)).as("vm_clock_nsec").isEqualTo(3000);
    assertThat(be(entry, 32, 4)).as("vm_state_size").isEqualTo(4000);
    assertThat(be(entry, 36, 4)).as("extra_data_size").isEqualTo(26);
    assertThat(be(entry, 40, 8)).as("vm_state_size_large").isEqualTo(4000);
    assertThat(be(entry, 48, 8)).as("disk_size").isEqualTo(5000);
    assertThat(be(entry, 56, 8)).as("icount").isEqualTo(6000);
    assertThat(Arrays.copyOfRange(entry, 64, 66)).containsExactly(1, 2);
    assertThat(new String(entry, 66, 1, StandardCharsets.UTF_8)).isEqualTo("7");
    assertThat(new String(entry, 67, 3, StandardCharsets.UTF_8)).isEqualTo("abc");
    // the last entry of a table ends where its name does (QEMU's table size)
    assertThat(entry).hasSize(70);
  }

  @Test
  void vmStateOver4GiBLeavesThe32BitFieldZero() throws IOException {
    // The 32-bit field cannot hold it; a reader that ignores the extra data must see a disk-only
    // snapshot (0, "no VM state"), not a truncated size. QEMU writes 0 here for the same reason.
    Snapshot snapshot = new Snapshot(0x30000, 2, "1", "big", 0, 0, 0, 5L << 30, 1L << 30, -1, new byte[0]);
    byte[] entry = SnapshotTableCodec.encode(List.of(snapshot));
    assertThat(be(entry, 32, 4)).isZero();
    assertThat(be(entry, 40, 8)).isEqualTo(5L << 30);
    assertThat(decode(entry, 1).getFirst().vmStateSize()).isEqualTo(5L << 30);

    Snapshot exactly = new Snapshot(0x30000, 2, "1", "big", 0, 0, 0, 0xffff_ffffL, 1L << 30, -1, new byte[0]);
    assertThat(be(SnapshotTableCodec.encode(List.of(exactly)), 32, 4)).isEqualTo(0xffff_ffffL);
  }

  @Test
  void decodesEntriesWithLessExtraData() throws IOException {
    // Older writers: no extra data (v2), then only the large VM state size, then also the disk size.
    byte[] none = entry(0x30000, 2, "1", "old", 4096, new byte[0]);
    Snapshot old = decode(none, 1).getFirst();
    assertThat(old.vmStateSize()).isEqualTo(4096);
    assertThat(old.diskSize()).isEqualTo(-1);
    assertThat(old.icount()).isEqualTo(-1);
    assertThat(old.unknownExtraData()).isEmpty();
    assertThat(none).hasSize(align8(40 + 1 + 3));

    byte[] eight = entry(0x30000, 2, "1", "old", 4096, longs(7L << 30));
    Snapshot large = decode(eight, 1).getFirst();
    assertThat(large.vmStateSize()).as("the extra field overrides the 32-bit one").isEqualTo(7L << 30);
    assertThat(large.diskSize()).isEqualTo(-1);

    Snapshot sized = decode(entry(0x30000, 2, "1", "old", 0, longs(0, 1L << 30)), 1).getFirst();
    assertThat(sized.diskSize()).isEqualTo(1L << 30);
    assertThat(sized.icount()).isEqualTo(-1);

    Snapshot future = decode(entry(0x30000, 2, "1", "new", 0, longs(0, 1L << 30, 77, 0x0102030405060708L)), 1)
        .getFirst();
    assertThat(future.icount()).isEqualTo(77);
    assertThat(future.unknownExtraData()).containsExactly(1, 2, 3, 4, 5, 6, 7, 8);
  }

  @Test
  void entryLengthIsPaddedToEightBytes() {
    byte[] table = entry(0x30000, 2, "12", "abcde", 0, longs(0, 0, 0));
    assertThat(SnapshotTableCodec.entryLength(ByteBuffer.wrap(table))).isEqualTo(align8(40 + 24 + 2 + 5));
    assertThat(SnapshotTableCodec.entryLength(ByteBuffer.wrap(table, 0, 39).slice())).isEqualTo(-1);
    // Read from the buffer's position.
    ByteBuffer shifted = ByteBuffer.allocate(8 + table.length).position(8);
    shifted.put(table).position(8);
    assertThat(SnapshotTableCodec.entryLength(shifted)).isEqualTo(72);
  }

  @Test
  void decodesSeveralEntriesAfterPadding() throws IOException {
    byte[] first = entry(0x30000, 2, "1", "a", 0, longs(0, 0, 0));
    byte[] second = entry(0x40000, 2, "22", "bbbbbbbbb", 0, longs(0, 0, 0));
    byte[] table = new byte[first.length + second.length];
    System.arraycopy(first, 0, table, 0, first.length);
    System.arraycopy(second, 0, table, first.length, second.length);
    List<Snapshot> snapshots = decode(table, 2);
    assertThat(snapshots).extracting(Snapshot::name).containsExactly("a", "bbbbbbbbb");
    assertThat(snapshots).extracting(Snapshot::l1TableOffset).containsExactly(0x30000L, 0x40000L);
  }

  @Test
  void acceptsTableWithoutPaddingAfterTheLastEntry() throws IOException {
    byte[] first = entry(0x30000, 2, "1", "a", 0, longs(0, 0, 0));
    byte[] second = entry(0x40000, 2, "2", "abc", 0, longs(0, 0, 0));
    byte[] table = new byte[first.length + 40 + 24 + 4];
    System.arraycopy(first, 0, table, 0, first.length);
    System.arraycopy(second, 0, table, first.length, table.length - first.length);
    assertThat(decode(table, 2)).extracting(Snapshot::name).containsExactly("a", "abc");
  }

  @Test
  void refusesEntryCutByTheTable() {
    byte[] table = entry(0x30000, 2, "1", "cut", 0, longs(0, 0, 0));
    byte[] cut = Arrays.copyOf(table, table.length - 8);
    assertThatThrownBy(() -> decode(cut, 1)).isExactlyInstanceOf(CorruptImageException.class)
        .hasMessageStartingWith(FILE + ": ").hasMessageContaining("entry 0").hasMessageContaining("offset " + TABLE_OFFSET);
    // Two entries announced, one stored: the second is cut at the table's end.
    assertThatThrownBy(() -> decode(table, 2)).isExactlyInstanceOf(CorruptImageException.class)
        .hasMessageContaining("entry 1").hasMessageContaining("offset " + (TABLE_OFFSET + table.length));
    assertThatThrownBy(() -> decode(Arrays.copyOf(table, 30), 1)).isExactlyInstanceOf(CorruptImageException.class);
  }

  @Test
  void refusesTooMuchExtraData() {
    byte[] table = entry(0x30000, 2, "1", "huge", 0, new byte[1032]);
    assertThatThrownBy(() -> decode(table, 1)).isExactlyInstanceOf(ImageLimitException.class)
        .hasMessage(FILE + ": Too much extra metadata in snapshot table entry 0\n"
            + "You can force-remove this extra metadata with qemu-img check -r all");
    byte[] negative = entry(0x30000, 2, "1", "huge", 0, new byte[0]);
    ByteBuffer.wrap(negative).putInt(36, -8);
    assertThatThrownBy(() -> decode(negative, 1)).isInstanceOfAny(CorruptImageException.class, ImageLimitException.class)
        .hasMessageStartingWith(FILE + ": ");
    // QEMU's own limit of 1024 bytes is allowed.
    assertThat(decodeUnchecked(entry(0x30000, 2, "1", "max", 0, new byte[1024]))).hasSize(1);
  }

  @Test
  void decodesWithoutCheckingTheSnapshotL1TableAsQemuReadsTheTable() throws IOException {
    assertThat(decode(entry(0x30200, (int) L1_LIMIT + 1, "1", "bad", 0, longs(0, 0, 0)), 1)).hasSize(1);
  }

  private static Snapshot withL1(long offset, int entries) {
    return new Snapshot(offset, entries, "1", "s", 0, 0, 0, 0, 0, 0, new byte[0]);
  }

  @Test
  void refusesSnapshotL1TableOverTheLimitWhereItIsUsed() {
    for (int entries : new int[] {(int) L1_LIMIT + 1, -1}) {
      assertThatThrownBy(() -> SnapshotTableCodec.validateL1(FILE, withL1(0x30000, entries), CLUSTER))
          .isExactlyInstanceOf(ImageLimitException.class).hasMessage(FILE + ": Snapshot L1 table too large");
    }
    assertThat(SnapshotTableCodec.l1Problem(withL1(0x30000, (int) L1_LIMIT), CLUSTER)).isNull();
  }

  @Test
  void refusesSnapshotL1TableAtInvalidOffsetWhereItIsUsed() throws IOException {
    // QEMU's qcow2_validate_table: aligned, room below 2^63; qcow4j also refuses the header's offset
    for (long offset : new long[] {0, 0x30200, -CLUSTER, Long.MAX_VALUE & -CLUSTER}) {
      assertThatThrownBy(() -> SnapshotTableCodec.validateL1(FILE, withL1(offset, 1 << 20), CLUSTER))
          .as("L1 at %d", offset).isExactlyInstanceOf(CorruptImageException.class)
          .hasMessage(FILE + ": Snapshot L1 table offset invalid");
    }
    // past the end of the file it reads as zeros, as QEMU reads it; an empty table may sit anywhere
    SnapshotTableCodec.validateL1(FILE, withL1(FILE_SIZE + CLUSTER, 2), CLUSTER);
    SnapshotTableCodec.validateL1(FILE, withL1(0, 0), CLUSTER);
  }

  @Test
  void copiesExtraDataDefensively() {
    byte[] extra = {1, 2, 3};
    Snapshot snapshot = new Snapshot(0, 0, "1", "n", 0, 0, 0, 0, 0, 0, extra);
    extra[0] = 9;
    snapshot.unknownExtraData()[1] = 9;
    assertThat(snapshot.unknownExtraData()).containsExactly(1, 2, 3);
    assertThat(snapshot).isEqualTo(new Snapshot(0, 0, "1", "n", 0, 0, 0, 0, 0, 0, new byte[] {1, 2, 3}))
        .hasSameHashCodeAs(new Snapshot(0, 0, "1", "n", 0, 0, 0, 0, 0, 0, new byte[] {1, 2, 3}));
  }

  /** One table entry laid out by hand from the spec. */
  static byte[] entry(long l1Offset, int l1Size, String id, String name, int vmStateSize32, byte[] extra) {
    byte[] idBytes = id.getBytes(StandardCharsets.UTF_8);
    byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
    ByteBuffer out = ByteBuffer.allocate(align8(40 + extra.length + idBytes.length + nameBytes.length));
    out.putLong(l1Offset).putInt(l1Size).putShort((short) idBytes.length).putShort((short) nameBytes.length)
        .putInt(1_700_000_000).putInt(5).putLong(0).putInt(vmStateSize32).putInt(extra.length)
        .put(extra).put(idBytes).put(nameBytes);
    return out.array();
  }

  private static byte[] longs(long... values) {
    ByteBuffer out = ByteBuffer.allocate(values.length * 8);
    for (long value : values) {
      out.putLong(value);
    }
    return out.array();
  }

  private static List<Snapshot> decode(byte[] table, int count) throws IOException {
    return SnapshotTableCodec.decode(FILE, ByteBuffer.wrap(table), TABLE_OFFSET, count);
  }

  private static List<Snapshot> decodeUnchecked(byte[] table) {
    try {
      return decode(table, 1);
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  private static int align8(int length) {
    return (length + 7) & ~7;
  }
}
