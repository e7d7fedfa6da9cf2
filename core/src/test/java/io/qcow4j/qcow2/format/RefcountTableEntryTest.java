package io.qcow4j.qcow2.format;

import static io.qcow4j.qcow2.format.L1EntryTest.bits;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Refcount table entries: bits 0-8 reserved, 9-63 the refcount block offset. */
class RefcountTableEntryTest {
  @Test
  void masksAreTheSpecsBitRanges() {
    assertThat(RefcountTableEntry.RESERVED_MASK).isEqualTo(bits(0, 8));
    assertThat(RefcountTableEntry.OFFSET_MASK).isEqualTo(bits(9, 63));
  }

  @Test
  void decodesOffsetAndReservedBits() {
    assertThat(RefcountTableEntry.blockOffset(0x2_0000L)).isEqualTo(0x2_0000L);
    assertThat(RefcountTableEntry.hasReservedBits(0x2_0000L)).isFalse();
    assertThat(RefcountTableEntry.blockOffset(0x2_0001L)).isEqualTo(0x2_0000L);
    assertThat(RefcountTableEntry.hasReservedBits(0x2_0001L)).isTrue();
    assertThat(RefcountTableEntry.hasReservedBits(0x2_0100L)).isTrue();
    assertThat(RefcountTableEntry.hasReservedBits(0x2_0200L)).as("bit 9 is an offset bit").isFalse();
  }

  @Test
  void bit63IsAnOffsetBitThatNoFileReaches() {
    long entry = (1L << 63) | 0x2_0000L;
    assertThat(RefcountTableEntry.hasReservedBits(entry)).isFalse();
    assertThat(RefcountTableEntry.blockOffset(entry)).isNegative();
  }
}
