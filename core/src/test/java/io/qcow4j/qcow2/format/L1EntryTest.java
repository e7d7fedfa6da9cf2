package io.qcow4j.qcow2.format;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** L1 entries: bits 9-55 the L2 table offset, 56-62 reserved, 63 the COPIED flag. */
class L1EntryTest {
  @Test
  void masksAreTheSpecsBitRanges() {
    assertThat(L1Entry.OFFSET_MASK).isEqualTo(bits(9, 55));
    assertThat(L1Entry.RESERVED_MASK).isEqualTo(bits(0, 8) | bits(56, 62));
    assertThat(L1Entry.COPIED).isEqualTo(1L << 63);
    assertThat(L1Entry.OFFSET_MASK | L1Entry.RESERVED_MASK | L1Entry.COPIED).isEqualTo(-1L);
  }

  @Test
  void decodesOffsetAndCopied() {
    assertThat(L1Entry.l2Offset(0)).isZero();
    assertThat(L1Entry.copied(0)).isFalse();
    long entry = 0x8000_0000_0004_0000L;
    assertThat(L1Entry.l2Offset(entry)).isEqualTo(0x40000);
    assertThat(L1Entry.copied(entry)).isTrue();
    // The highest offset the 47 offset bits can name, with every reserved bit set around it.
    long highest = bits(9, 55);
    assertThat(L1Entry.l2Offset(highest | L1Entry.RESERVED_MASK)).isEqualTo(highest);
    assertThat(L1Entry.copied(highest | L1Entry.RESERVED_MASK)).isFalse();
  }

  @Test
  void encodesRoundTrip() {
    for (long offset : new long[] {0, 512, 0x40000, 1L << 40, bits(9, 55)}) {
      for (boolean copied : new boolean[] {false, true}) {
        long entry = L1Entry.of(offset, copied);
        assertThat(L1Entry.l2Offset(entry)).isEqualTo(offset);
        assertThat(L1Entry.copied(entry)).isEqualTo(copied);
        assertThat(entry & L1Entry.RESERVED_MASK).isZero();
      }
    }
    assertThat(L1Entry.of(0x40000, true)).isEqualTo(0x8000_0000_0004_0000L);
  }

  static long bits(int from, int to) {
    return (to == 63 ? -1L : (1L << (to + 1)) - 1) & -(1L << from);
  }
}
