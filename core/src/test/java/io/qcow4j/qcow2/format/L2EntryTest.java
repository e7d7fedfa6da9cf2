package io.qcow4j.qcow2.format;

import static io.qcow4j.qcow2.format.L1EntryTest.bits;
import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.qcow2.format.L2Entry.Kind;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * L2 entries by the spec: standard descriptors (zero flag bit 0, offset 9-55, compressed 62, COPIED
 * 63), the external data file's offset-0 rule, and extended L2 subcluster bitmaps.
 */
class L2EntryTest {
  @TempDir Path dir;

  @Test
  void masksAreTheSpecsBitRanges() {
    assertThat(L2Entry.ZERO).isEqualTo(1L);
    assertThat(L2Entry.OFFSET_MASK).isEqualTo(bits(9, 55));
    assertThat(L2Entry.RESERVED_MASK).isEqualTo(bits(1, 8) | bits(56, 61));
    assertThat(L2Entry.COMPRESSED).isEqualTo(1L << 62);
    assertThat(L2Entry.COPIED).isEqualTo(1L << 63);
    assertThat(L2Entry.ZERO | L2Entry.OFFSET_MASK | L2Entry.RESERVED_MASK | L2Entry.COMPRESSED | L2Entry.COPIED)
        .isEqualTo(-1L);
    assertThat(L2Entry.SUBCLUSTERS).isEqualTo(32);
  }

  @Test
  void unallocated() {
    assertThat(L2Entry.kind(0, false)).isEqualTo(Kind.UNALLOCATED);
    assertThat(L2Entry.hasHostCluster(0, false)).isFalse();
    assertThat(L2Entry.hostOffset(0)).isZero();
    // Offset 0 without COPIED is unallocated even with an external data file.
    assertThat(L2Entry.kind(0, true)).isEqualTo(Kind.UNALLOCATED);
    assertThat(L2Entry.hasHostCluster(0, true)).isFalse();
  }

  @Test
  void data() {
    long owned = L2Entry.COPIED | 0x50000;
    assertThat(L2Entry.kind(owned, false)).isEqualTo(Kind.DATA);
    assertThat(L2Entry.hostOffset(owned)).isEqualTo(0x50000);
    assertThat(L2Entry.copied(owned)).isTrue();
    assertThat(L2Entry.compressed(owned)).isFalse();
    assertThat(L2Entry.hasHostCluster(owned, false)).isTrue();
    // Shared with a snapshot: COPIED clear, still data.
    long shared = 0x50000;
    assertThat(L2Entry.kind(shared, false)).isEqualTo(Kind.DATA);
    assertThat(L2Entry.copied(shared)).isFalse();
    assertThat(L2Entry.hasHostCluster(shared, false)).isTrue();
  }

  @Test
  void zeroWithoutHostCluster() {
    assertThat(L2Entry.kind(L2Entry.ZERO, false)).isEqualTo(Kind.ZERO);
    assertThat(L2Entry.hasHostCluster(L2Entry.ZERO, false)).isFalse();
    assertThat(L2Entry.hostOffset(L2Entry.ZERO)).isZero();
  }

  @Test
  void zeroWithHostCluster() {
    // Spec: the offset may describe a preallocation, but the cluster reads as zeros.
    long entry = L2Entry.COPIED | 0x60000 | L2Entry.ZERO;
    assertThat(L2Entry.kind(entry, false)).isEqualTo(Kind.ZERO);
    assertThat(L2Entry.hasHostCluster(entry, false)).isTrue();
    assertThat(L2Entry.hostOffset(entry)).isEqualTo(0x60000);
  }

  @Test
  void compressed() {
    long entry = new CompressedDescriptor(0x70123, 2).encode(16);
    assertThat(L2Entry.compressed(entry)).isTrue();
    assertThat(L2Entry.kind(entry, false)).isEqualTo(Kind.COMPRESSED);
    assertThat(L2Entry.kind(entry, true)).isEqualTo(Kind.COMPRESSED);
    assertThat(L2Entry.hasHostCluster(entry, false)).isFalse();
    // A compressed descriptor's low bits are offset bits, not the zero flag.
    assertThat(L2Entry.kind(L2Entry.COMPRESSED | 0x1001, false)).isEqualTo(Kind.COMPRESSED);
  }

  @Test
  void externalDataFileOffsetZeroWithCopiedIsData() {
    // Spec: the offset may only be 0 with bit 63 set (host offset 0) when an external data file is used.
    long entry = L2Entry.COPIED;
    assertThat(L2Entry.kind(entry, true)).isEqualTo(Kind.DATA);
    assertThat(L2Entry.hasHostCluster(entry, true)).isTrue();
    assertThat(L2Entry.hostOffset(entry)).isZero();
    assertThat(L2Entry.kind(entry, false)).isEqualTo(Kind.UNALLOCATED);
    assertThat(L2Entry.hasHostCluster(entry, false)).isFalse();
  }

  @Test
  void externalDataFileZeroAtOffsetZeroHasNoHostCluster() {
    // QEMU reads ZERO|COPIED with offset 0 as a plain zero cluster, even with a data file.
    long entry = L2Entry.COPIED | L2Entry.ZERO;
    assertThat(L2Entry.kind(entry, true)).isEqualTo(Kind.ZERO);
    assertThat(L2Entry.hasHostCluster(entry, true)).isFalse();
    long elsewhere = L2Entry.COPIED | 0x10000 | L2Entry.ZERO;
    assertThat(L2Entry.hasHostCluster(elsewhere, true)).isTrue();
  }

  @Test
  void decodesExternalDataFileEntriesQemuWrote() throws IOException {
    Path image = QemuFixtures.create(dir, "meta.qcow2", "data_file=data.raw", "1M");
    QemuFixtures.run(dir, "qemu-io", "-c", "write -P 1 0 192k", "-c", "write -z 0 64k", "-c", "write -z 64k 64k",
        "meta.qcow2");
    Header header = QemuFixtures.header(image);
    long l2Offset = L1Entry.l2Offset(QemuFixtures.be64(image, header.l1TableOffset()));
    long zeroAtZero = QemuFixtures.be64(image, l2Offset);
    long zeroAt64k = QemuFixtures.be64(image, l2Offset + 8);
    long dataAt128k = QemuFixtures.be64(image, l2Offset + 16);

    // Host offsets equal guest offsets in an external data file, and every entry has COPIED.
    assertThat(zeroAtZero).isEqualTo(L2Entry.COPIED | L2Entry.ZERO);
    assertThat(L2Entry.kind(zeroAtZero, true)).isEqualTo(Kind.ZERO);
    assertThat(L2Entry.hasHostCluster(zeroAtZero, true)).isFalse();
    assertThat(L2Entry.kind(zeroAt64k, true)).isEqualTo(Kind.ZERO);
    assertThat(L2Entry.hasHostCluster(zeroAt64k, true)).isTrue();
    assertThat(L2Entry.hostOffset(zeroAt64k)).isEqualTo(0x10000);
    assertThat(L2Entry.kind(dataAt128k, true)).isEqualTo(Kind.DATA);
    assertThat(L2Entry.hostOffset(dataAt128k)).isEqualTo(0x20000);
    // qemu-img map agrees: no host offset for the first cluster, 64 KiB for the second.
    String map = QemuFixtures.run(dir, "qemu-img", "map", "--output=json", "meta.qcow2");
    assertThat(map).contains("{ \"start\": 0, \"length\": 65536, \"depth\": 0, \"present\": true, \"zero\": true, \"data\": false}");
    assertThat(map).contains("\"start\": 65536, \"length\": 65536, \"depth\": 0, \"present\": true, \"zero\": true, \"data\": false, \"offset\": 65536}");
  }

  @Test
  void dataEntryEncodesRoundTrip() {
    for (long offset : new long[] {512, 0x50000, bits(9, 55)}) {
      for (boolean copied : new boolean[] {false, true}) {
        long entry = L2Entry.data(offset, copied);
        assertThat(L2Entry.kind(entry, false)).isEqualTo(Kind.DATA);
        assertThat(L2Entry.hostOffset(entry)).isEqualTo(offset);
        assertThat(L2Entry.copied(entry)).isEqualTo(copied);
        assertThat(entry & (L2Entry.RESERVED_MASK | L2Entry.ZERO | L2Entry.COMPRESSED)).isZero();
      }
    }
  }

  @Test
  void subclusterBitmapBitByBit() {
    for (int index = 0; index < L2Entry.SUBCLUSTERS; index++) {
      long allocated = 1L << index;
      long zero = 1L << (index + 32);
      assertThat(L2Entry.subclusterKind(0, index)).isEqualTo(Kind.UNALLOCATED);
      assertThat(L2Entry.subclusterKind(allocated, index)).isEqualTo(Kind.DATA);
      assertThat(L2Entry.subclusterKind(zero, index)).isEqualTo(Kind.ZERO);
      // Spec: a subcluster that reads as zeros must have its allocation bit unset.
      assertThat(L2Entry.subclusterKind(allocated | zero, index)).as("alloc+zero at %d", index).isNull();
      // Bits of the other subclusters do not leak into this one.
      long others = ~(allocated | zero);
      assertThat(L2Entry.subclusterKind(others & 0xffff_ffffL, index)).isEqualTo(Kind.UNALLOCATED);
      assertThat(L2Entry.subclusterKind(others & 0xffff_ffff_0000_0000L, index)).isEqualTo(Kind.UNALLOCATED);
      assertThat(L2Entry.subclusterKind(others, index)).isEqualTo(Kind.UNALLOCATED);
      assertThat(L2Entry.subclusterKind(others | allocated, index)).isEqualTo(Kind.DATA);
      assertThat(L2Entry.subclusterKind(others | zero, index)).isEqualTo(Kind.ZERO);
    }
    assertThat(L2Entry.subclusterKind(0xffff_ffffL, 31)).isEqualTo(Kind.DATA);
    assertThat(L2Entry.subclusterKind(0xffff_ffff_0000_0000L, 0)).isEqualTo(Kind.ZERO);
  }

  @Test
  void decodesEntriesQemuWrote() throws IOException {
    Path image = QemuFixtures.create(dir, "l2.qcow2", "", "16M");
    QemuFixtures.run(dir, "qemu-io", "-c", "write -P 1 0 64k", "-c", "write -z 64k 64k",
        "-c", "write -P 2 128k 64k", "-c", "write -z 128k 64k", "-c", "write -P 3 192k 64k", "l2.qcow2");
    Header header = QemuFixtures.header(image);
    long fileSize = QemuFixtures.size(image);
    long l1Entry = QemuFixtures.be64(image, header.l1TableOffset());
    long l2Offset = L1Entry.l2Offset(l1Entry);
    assertThat(L1Entry.copied(l1Entry)).isTrue();
    assertThat(l1Entry & L1Entry.RESERVED_MASK).isZero();
    assertThat(l2Offset % header.clusterSize()).isZero();
    assertThat(l2Offset).isBetween((long) header.clusterSize(), fileSize - header.clusterSize());

    long[] l2 = new long[5];
    for (int index = 0; index < l2.length; index++) {
      l2[index] = QemuFixtures.be64(image, l2Offset + 8L * index);
      assertThat(l2[index] & L2Entry.RESERVED_MASK).isZero();
    }
    assertThat(L2Entry.kind(l2[0], false)).isEqualTo(Kind.DATA);
    assertThat(L2Entry.copied(l2[0])).isTrue();
    assertThat(L2Entry.kind(l2[1], false)).isEqualTo(Kind.ZERO);
    assertThat(L2Entry.hasHostCluster(l2[1], false)).isFalse();
    // Zeroing an allocated cluster without unmapping keeps its host cluster.
    assertThat(L2Entry.kind(l2[2], false)).isEqualTo(Kind.ZERO);
    assertThat(L2Entry.hasHostCluster(l2[2], false)).isTrue();
    assertThat(L2Entry.kind(l2[3], false)).isEqualTo(Kind.DATA);
    assertThat(L2Entry.kind(l2[4], false)).isEqualTo(Kind.UNALLOCATED);
    for (int index : new int[] {0, 2, 3}) {
      long hostOffset = L2Entry.hostOffset(l2[index]);
      assertThat(hostOffset % header.clusterSize()).isZero();
      assertThat(hostOffset + header.clusterSize()).isLessThanOrEqualTo(fileSize);
    }
    byte[] cluster3 = QemuFixtures.read(image, L2Entry.hostOffset(l2[3]), header.clusterSize());
    assertThat(cluster3).containsOnly(3);
  }

  @Test
  void decodesExtendedEntriesQemuWrote() throws IOException {
    // 64 KiB clusters: 32 subclusters of 2 KiB.
    Path image = QemuFixtures.create(dir, "ext.qcow2", "extended_l2=on", "16M");
    QemuFixtures.run(dir, "qemu-io", "-c", "write -P 1 0 4k", "-c", "write -z 10k 2k", "-c", "write -P 5 64k 64k",
        "-c", "write -z 128k 64k", "ext.qcow2");
    Header header = QemuFixtures.header(image);
    long l2Offset = L1Entry.l2Offset(QemuFixtures.be64(image, header.l1TableOffset()));

    long entry0 = QemuFixtures.be64(image, l2Offset);
    long bitmap0 = QemuFixtures.be64(image, l2Offset + 8);
    assertThat(L2Entry.hostOffset(entry0)).isNotZero();
    assertThat(entry0 & L2Entry.ZERO).as("bit 0 is always 0 with extended L2").isZero();
    for (int index = 0; index < 32; index++) {
      Kind expected = index < 2 ? Kind.DATA : index == 5 ? Kind.ZERO : Kind.UNALLOCATED;
      assertThat(L2Entry.subclusterKind(bitmap0, index)).as("subcluster %d", index).isEqualTo(expected);
    }

    long entry1 = QemuFixtures.be64(image, l2Offset + 16);
    long bitmap1 = QemuFixtures.be64(image, l2Offset + 24);
    assertThat(L2Entry.kind(entry1, false)).isEqualTo(Kind.DATA);
    for (int index = 0; index < 32; index++) {
      assertThat(L2Entry.subclusterKind(bitmap1, index)).isEqualTo(Kind.DATA);
    }

    long bitmap2 = QemuFixtures.be64(image, l2Offset + 40);
    for (int index = 0; index < 32; index++) {
      assertThat(L2Entry.subclusterKind(bitmap2, index)).isEqualTo(Kind.ZERO);
    }
  }
}
