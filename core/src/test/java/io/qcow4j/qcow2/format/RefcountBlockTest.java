package io.qcow4j.qcow2.format;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Refcount block entries of {@code 1 << refcount_order} bits: sub-byte widths packed from the least
 * significant bit, wider ones big-endian, as the spec's "Host cluster management" section says.
 */
class RefcountBlockTest {
  private static final HexFormat HEX = HexFormat.of();

  @TempDir Path dir;

  @Test
  void entriesPerBlock() {
    for (int clusterBits = 9; clusterBits <= 21; clusterBits++) {
      int clusterSize = 1 << clusterBits;
      for (int order = 0; order <= 6; order++) {
        assertThat(RefcountBlock.entries(clusterSize, order)).isEqualTo(clusterSize * 8L / (1 << order));
      }
    }
    assertThat(RefcountBlock.entries(65536, 4)).isEqualTo(32768);
    assertThat(RefcountBlock.entries(512, 6)).isEqualTo(64);
    assertThat(RefcountBlock.entries(2 << 20, 0)).isEqualTo(16L << 20);
  }

  @Test
  void maxValues() {
    assertThat(RefcountBlock.maxValue(0)).isEqualTo(1);
    assertThat(RefcountBlock.maxValue(1)).isEqualTo(3);
    assertThat(RefcountBlock.maxValue(2)).isEqualTo(15);
    assertThat(RefcountBlock.maxValue(3)).isEqualTo(255);
    assertThat(RefcountBlock.maxValue(4)).isEqualTo(65535);
    assertThat(RefcountBlock.maxValue(5)).isEqualTo(0xffff_ffffL);
    assertThat(Long.toUnsignedString(RefcountBlock.maxValue(6))).isEqualTo("18446744073709551615");
  }

  @Test
  void oneBitEntriesPackFromTheLeastSignificantBit() {
    byte[] block = new byte[4];
    RefcountBlock.set(block, 0, 0, 1);
    assertThat(HEX.formatHex(block)).isEqualTo("01000000");
    RefcountBlock.set(block, 7, 0, 1);
    assertThat(HEX.formatHex(block)).isEqualTo("81000000");
    RefcountBlock.set(block, 8, 0, 1);
    RefcountBlock.set(block, 31, 0, 1);
    assertThat(HEX.formatHex(block)).isEqualTo("81010080");
    RefcountBlock.set(block, 0, 0, 0);
    assertThat(HEX.formatHex(block)).isEqualTo("80010080");
    assertThat(RefcountBlock.get(block, 7, 0)).isEqualTo(1);
    assertThat(RefcountBlock.get(block, 6, 0)).isZero();
    assertThat(RefcountBlock.get(block, 8, 0)).isEqualTo(1);
  }

  @Test
  void twoBitEntriesPackFromTheLeastSignificantBit() {
    byte[] block = new byte[2];
    RefcountBlock.set(block, 0, 1, 3);
    RefcountBlock.set(block, 1, 1, 1);
    RefcountBlock.set(block, 3, 1, 2);
    assertThat(HEX.formatHex(block)).isEqualTo("87" + "00");
    RefcountBlock.set(block, 4, 1, 1);
    assertThat(HEX.formatHex(block)).isEqualTo("8701");
    assertThat(RefcountBlock.get(block, 0, 1)).isEqualTo(3);
    assertThat(RefcountBlock.get(block, 1, 1)).isEqualTo(1);
    assertThat(RefcountBlock.get(block, 2, 1)).isZero();
    assertThat(RefcountBlock.get(block, 3, 1)).isEqualTo(2);
    assertThat(RefcountBlock.get(block, 4, 1)).isEqualTo(1);
  }

  @Test
  void fourBitEntriesPackLowNibbleFirst() {
    byte[] block = new byte[2];
    RefcountBlock.set(block, 0, 2, 0xa);
    RefcountBlock.set(block, 1, 2, 0x5);
    RefcountBlock.set(block, 3, 2, 0xf);
    assertThat(HEX.formatHex(block)).isEqualTo("5af0");
    assertThat(RefcountBlock.get(block, 0, 2)).isEqualTo(0xa);
    assertThat(RefcountBlock.get(block, 1, 2)).isEqualTo(0x5);
    assertThat(RefcountBlock.get(block, 2, 2)).isZero();
    assertThat(RefcountBlock.get(block, 3, 2)).isEqualTo(0xf);
  }

  @Test
  void wideEntriesAreBigEndian() {
    byte[] block = new byte[24];
    RefcountBlock.set(block, 1, 3, 0xab);
    assertThat(HEX.formatHex(block, 0, 3)).isEqualTo("00ab00");
    block = new byte[24];
    RefcountBlock.set(block, 1, 4, 0x1234);
    assertThat(HEX.formatHex(block, 0, 6)).isEqualTo("000012340000");
    block = new byte[24];
    RefcountBlock.set(block, 1, 5, 0x89abcdefL);
    assertThat(HEX.formatHex(block, 0, 12)).isEqualTo("0000000089abcdef00000000");
    assertThat(RefcountBlock.get(block, 1, 5)).isEqualTo(0x89abcdefL);
    block = new byte[24];
    RefcountBlock.set(block, 1, 6, 0xfedcba9876543210L);
    assertThat(HEX.formatHex(block)).isEqualTo("0000000000000000" + "fedcba9876543210" + "0000000000000000");
    assertThat(RefcountBlock.get(block, 1, 6)).isEqualTo(0xfedcba9876543210L);
  }

  @ParameterizedTest
  @ValueSource(ints = {0, 1, 2, 3, 4, 5, 6})
  void maxValueFillsExactlyItsBits(int order) {
    int bits = 1 << order;
    byte[] block = new byte[64];
    long entries = RefcountBlock.entries(block.length, order);
    for (int index = 0; index < entries; index++) {
      RefcountBlock.set(block, index, order, RefcountBlock.maxValue(order));
    }
    for (byte b : block) {
      assertThat(b).isEqualTo((byte) 0xff);
    }
    // Clear one entry in the middle: exactly its bits go to zero, the neighbours keep the maximum.
    int middle = (int) entries / 2 + 1;
    RefcountBlock.set(block, middle, order, 0);
    for (int index = 0; index < entries; index++) {
      long expected = index == middle ? 0 : RefcountBlock.maxValue(order);
      if (RefcountBlock.get(block, index, order) != expected) {
        throw new AssertionError("order " + order + " index " + index + ": " + RefcountBlock.get(block, index, order));
      }
    }
    int zeroBits = 0;
    for (byte b : block) {
      zeroBits += 8 - Integer.bitCount(b & 0xff);
    }
    assertThat(zeroBits).isEqualTo(bits);
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 2, 4, 8, 16, 32, 64})
  void readsRefcountsQemuWrote(int refcountBits) throws IOException {
    int order = Integer.numberOfTrailingZeros(refcountBits);
    Path image = QemuFixtures.create(dir, "rc.qcow2", "refcount_bits=" + refcountBits, "16M");
    QemuFixtures.run(dir, "qemu-io", "-c", "write -P 7 0 64k", "rc.qcow2");
    if (refcountBits > 1) {
      // One-bit refcounts cannot share clusters, so QEMU refuses internal snapshots there.
      QemuFixtures.run(dir, "qemu-img", "snapshot", "-c", "s1", "rc.qcow2");
    }
    Header header = QemuFixtures.header(image);
    assertThat(header.refcountOrder()).isEqualTo(order);
    int clusterSize = header.clusterSize();
    long fileClusters = (QemuFixtures.size(image) + clusterSize - 1) / clusterSize;
    long blockEntry = QemuFixtures.be64(image, header.refcountTableOffset());
    assertThat(blockEntry & 0x1ff).as("reserved bits 0-8").isZero();
    byte[] block = QemuFixtures.read(image, blockEntry, clusterSize);
    assertThat(fileClusters).isLessThan(RefcountBlock.entries(clusterSize, order));

    long l2Offset = L1Entry.l2Offset(QemuFixtures.be64(image, header.l1TableOffset()));
    long dataOffset = L2Entry.hostOffset(QemuFixtures.be64(image, l2Offset));
    int shared = 0;
    List<String> wrong = new ArrayList<>();
    for (int index = 0; index < RefcountBlock.entries(clusterSize, order); index++) {
      long refcount = RefcountBlock.get(block, index, order);
      long hostOffset = (long) index * clusterSize;
      long expected;
      if (index >= fileClusters) {
        expected = 0;
      } else if (refcountBits > 1 && (hostOffset == l2Offset || hostOffset == dataOffset)) {
        // The active L1 and the snapshot's L1 both reach the L2 table, and through it the data cluster.
        expected = 2;
        shared++;
      } else {
        expected = 1;
      }
      if (refcount != expected) {
        wrong.add("cluster " + index + ": " + refcount + " instead of " + expected);
      }
    }
    assertThat(wrong).isEmpty();
    assertThat(shared).isEqualTo(refcountBits > 1 ? 2 : 0);
  }

  @Test
  void sixtyFourBitEntriesMatchByteBuffer() {
    byte[] block = new byte[32];
    long[] values = {0, 1, Long.MIN_VALUE, -1L};
    for (int index = 0; index < values.length; index++) {
      RefcountBlock.set(block, index, 6, values[index]);
    }
    ByteBuffer buffer = ByteBuffer.wrap(block);
    for (int index = 0; index < values.length; index++) {
      assertThat(buffer.getLong(index * 8)).isEqualTo(values[index]);
      assertThat(RefcountBlock.get(block, index, 6)).isEqualTo(values[index]);
    }
  }
}
