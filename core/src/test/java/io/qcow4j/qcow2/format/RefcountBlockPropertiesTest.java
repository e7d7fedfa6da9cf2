package io.qcow4j.qcow2.format;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/** Properties of refcount blocks for every order: a write reads back, and touches no other entry's bits. */
class RefcountBlockPropertiesTest {
  private static final int BLOCK_BYTES = 512;

  record Write(int order, int index, long value) {}

  @Provide
  Arbitrary<Write> writes() {
    return Arbitraries.integers().between(0, 6).flatMap(order -> {
      long entries = RefcountBlock.entries(BLOCK_BYTES, order);
      Arbitrary<Long> values = order == 6
          ? Arbitraries.longs()
          : Arbitraries.longs().between(0, RefcountBlock.maxValue(order));
      return Combinators.combine(Arbitraries.integers().between(0, (int) entries - 1), values)
          .as((index, value) -> new Write(order, index, value));
    });
  }

  @Property(tries = 500)
  void writeReadsBackAndLeavesOtherBitsAlone(@ForAll("writes") Write write, @ForAll byte fill) {
    byte[] block = new byte[BLOCK_BYTES];
    java.util.Arrays.fill(block, fill);
    byte[] before = block.clone();

    RefcountBlock.set(block, write.index(), write.order(), write.value());

    assertThat(RefcountBlock.get(block, write.index(), write.order())).isEqualTo(write.value());
    int bits = 1 << write.order();
    long firstBit = (long) write.index() * bits;
    for (int bit = 0; bit < BLOCK_BYTES * 8; bit++) {
      if (bit >= firstBit && bit < firstBit + bits) {
        continue;
      }
      if (bitAt(block, bit) != bitAt(before, bit)) {
        throw new AssertionError("bit " + bit + " changed by " + write);
      }
    }
  }

  @Property(tries = 200)
  void subByteEntriesAreTheSpecsBits(@ForAll("writes") Write write) {
    if (write.order() > 2) {
      return;
    }
    byte[] block = new byte[BLOCK_BYTES];
    RefcountBlock.set(block, write.index(), write.order(), write.value());
    int bits = 1 << write.order();
    long firstBit = (long) write.index() * bits;
    long fromSpec = 0;
    for (int bit = 0; bit < bits; bit++) {
      // "bit 0 means the least significant bit": bit n of the block is bit n % 8 of byte n / 8.
      fromSpec |= (long) bitAt(block, firstBit + bit) << bit;
    }
    assertThat(fromSpec).isEqualTo(write.value());
  }

  @Property(tries = 200)
  void wideEntriesAreBigEndian(@ForAll @IntRange(min = 3, max = 6) int order, @ForAll long value,
      @ForAll @IntRange(min = 0, max = 63) int index) {
    long stored = order == 6 ? value : value & RefcountBlock.maxValue(order);
    byte[] block = new byte[BLOCK_BYTES];
    RefcountBlock.set(block, index, order, stored);
    ByteBuffer buffer = ByteBuffer.wrap(block);
    long expected = switch (order) {
      case 3 -> buffer.get(index) & 0xffL;
      case 4 -> buffer.getShort(index * 2) & 0xffffL;
      case 5 -> buffer.getInt(index * 4) & 0xffff_ffffL;
      default -> buffer.getLong(index * 8);
    };
    assertThat(expected).isEqualTo(stored);
  }

  private static int bitAt(byte[] block, long bit) {
    return (block[(int) (bit / 8)] >>> (bit % 8)) & 1;
  }
}
