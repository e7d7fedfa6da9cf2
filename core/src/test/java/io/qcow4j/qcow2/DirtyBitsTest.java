package io.qcow4j.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.util.BitSet;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The in-memory bitmap against a BitSet model: marks, searches, the qcow2 data layout, merge and resize. */
class DirtyBitsTest {

  @Test
  void marksWholeUnitsOfAnyRange() throws Exception {
    DirtyBits bits = new DirtyBits(1 << 20, 16);
    assertThat(bits.bitCount()).isEqualTo(16);
    bits.mark(65535, 2);
    assertThat(bits.get(0)).isTrue();
    assertThat(bits.get(1)).isTrue();
    assertThat(bits.get(2)).isFalse();
    bits.mark((1 << 20) - 1, 1000);
    assertThat(bits.get(15)).isTrue();
    assertThat(bits.nextSet(2)).isEqualTo(15);
    assertThat(bits.nextClear(0)).isEqualTo(2);
    assertThat(bits.nextClear(15)).isEqualTo(16);
    bits.clear();
    assertThat(bits.nextSet(0)).isEqualTo(-1);
  }

  /** QEMU's largest bitmap, 2^32 bits (a 2 TiB disk at 512 bytes), costs memory only where it is dirty. */
  @Test
  void aHugeCleanBitmapTakesNoPagesAndADirtyOneOnlyItsOwn() throws Exception {
    DirtyBits bits = new DirtyBits(2L << 40, 9);
    assertThat(bits.bitCount()).isEqualTo(1L << 32);
    assertThat(bits.nextSet(0)).isEqualTo(-1);
    assertThat(bits.nextClear(12345)).isEqualTo(12345);
    bits.mark((1L << 40) + 512, 1024);
    assertThat(bits.nextSet(0)).isEqualTo((1L << 31) + 1);
    assertThat(bits.nextClear((1L << 31) + 1)).isEqualTo((1L << 31) + 3);
    ByteBuffer cluster = ByteBuffer.allocate(512);
    bits.serialize(1L << 31, cluster);
    assertThat(cluster.get(0)).isEqualTo((byte) 0b110);
  }

  @Test
  void agreesWithABitSetModel() throws Exception {
    long seed = System.nanoTime();
    Random random = new Random(seed);
    for (int round = 0; round < 50; round++) {
      long size = 1 + random.nextInt(1 << 22);
      int granularityBits = 9 + random.nextInt(8);
      DirtyBits bits = new DirtyBits(size, granularityBits);
      BitSet model = new BitSet();
      for (int write = 0; write < 20; write++) {
        long offset = (long) (random.nextDouble() * size);
        long length = 1 + random.nextInt((int) Math.min(size - offset, 1 << 18));
        bits.mark(offset, length);
        model.set((int) (offset >>> granularityBits), (int) (((offset + length - 1) >>> granularityBits) + 1));
      }
      for (int bit = 0; bit < bits.bitCount(); bit++) {
        assertThat(bits.get(bit)).as("seed %d bit %d", seed, bit).isEqualTo(model.get(bit));
      }
      // the qcow2 layout and back, in clusters of 512 bytes (4096 bits), at word and byte offsets
      DirtyBits copy = new DirtyBits(size, granularityBits);
      for (long from = 0; from < bits.bitCount(); from += 4096) {
        ByteBuffer cluster = ByteBuffer.allocate(512);
        bits.serialize(from, cluster);
        for (int index = 0; index < 512 * 8 && from + index < bits.bitCount(); index++) {
          assertThat((cluster.get(index / 8) >> (index % 8) & 1) == 1).isEqualTo(model.get((int) (from + index)));
        }
        copy.deserialize(from, cluster.flip());
      }
      DirtyBits bytewise = new DirtyBits(size, granularityBits);
      for (long from = 0; from < bits.bitCount(); from += 8) {
        ByteBuffer one = ByteBuffer.allocate(1);
        bits.serialize(from, one);
        bytewise.deserialize(from, one.flip());
      }
      for (int bit = 0; bit < bits.bitCount(); bit++) {
        assertThat(copy.get(bit)).as("seed %d bit %d", seed, bit).isEqualTo(model.get(bit));
        assertThat(bytewise.get(bit)).as("seed %d bit %d", seed, bit).isEqualTo(model.get(bit));
      }
      // merged into a coarser bitmap: every unit holding a dirty byte is dirty
      DirtyBits coarse = new DirtyBits(size, granularityBits + 1);
      coarse.merge(bits);
      for (int bit = 0; bit < coarse.bitCount(); bit++) {
        boolean expected = model.get(2 * bit) || model.get(2 * bit + 1);
        assertThat(coarse.get(bit)).as("seed %d coarse bit %d", seed, bit).isEqualTo(expected);
      }
      DirtyBits grown = bits.resized(size * 2);
      for (int bit = 0; bit < grown.bitCount(); bit++) {
        assertThat(grown.get(bit)).as("seed %d grown bit %d", seed, bit).isEqualTo(bit < bits.bitCount() && model.get(bit));
      }
    }
  }
}
