package io.qcow4j.options;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** qemu_strtosz's sizes: the common integer forms (long arithmetic) and the rest (exact decimals). */
class OptionNumbersTest {
  @Test
  void readsSizesAsQemuStrtoszDoes() throws Exception {
    assertThat(OptionNumbers.parseSize("0")).isZero();
    assertThat(OptionNumbers.parseSize("512")).isEqualTo(512);
    assertThat(OptionNumbers.parseSize(" +7K")).isEqualTo(7 * 1024);
    assertThat(OptionNumbers.parseSize("1G")).isEqualTo(1L << 30);
    assertThat(OptionNumbers.parseSize("64k")).isEqualTo(64 * 1024);
    assertThat(OptionNumbers.parseSize("3b")).isEqualTo(3);
    assertThat(OptionNumbers.parseSize("007M")).isEqualTo(7L << 20);
    assertThat(OptionNumbers.parseSize("7E")).isEqualTo(7L << 60);
    assertThat(OptionNumbers.parseSize("123456789012345678")).isEqualTo(123456789012345678L);
    assertThat(OptionNumbers.parseSize("9223372036854775807")).isEqualTo(Long.MAX_VALUE);
    // 2^63 and up: unsigned, through the exact path
    assertThat(OptionNumbers.parseSize("8E")).isEqualTo(Long.MIN_VALUE);
    assertThat(OptionNumbers.parseSize("9223372036854775808")).isEqualTo(Long.MIN_VALUE);
    assertThat(OptionNumbers.parseSize("18446744073709551615")).isEqualTo(-1L);
    assertThat(OptionNumbers.parseSize("8191P")).isEqualTo(8191L << 50);
    // fractions and hex
    assertThat(OptionNumbers.parseSize("1.5K")).isEqualTo(1536);
    assertThat(OptionNumbers.parseSize("0x10")).isEqualTo(16);
    assertThat(OptionNumbers.parseSize("0x10K")).isEqualTo(16 * 1024);
  }

  @Test
  void refusesWhatQemuStrtoszRefuses() {
    for (String text : new String[] {"", "K", "12x", "5 ", "1Kb", "1Z", "-1", "1.5", "0x", "1e3"}) {
      assertThatThrownBy(() -> OptionNumbers.parseSize(text)).as(text).isInstanceOf(OptionNumbers.FormatException.class)
          .satisfies(e -> assertThat(((OptionNumbers.FormatException) e).tooLarge()).isFalse());
    }
    for (String text : new String[] {"16E", "18446744073709551616", "16384P", "99999999999999999999"}) {
      assertThatThrownBy(() -> OptionNumbers.parseSize(text)).as(text).isInstanceOf(OptionNumbers.FormatException.class)
          .satisfies(e -> assertThat(((OptionNumbers.FormatException) e).tooLarge()).isTrue());
    }
  }
}
