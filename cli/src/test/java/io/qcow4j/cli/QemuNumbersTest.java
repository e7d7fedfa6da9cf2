package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The printf roundings of sizes and rates in long arithmetic agree with the exact decimal
 * expansion rounded half-even (BigDecimal, what they replaced on the common path), and with C.
 */
class QemuNumbersTest {
  @Test
  void sizesMatchCsThreeSignificantDigits() {
    assertThat(QemuNumbers.humanSize(0)).isEqualTo("0 B");
    assertThat(QemuNumbers.humanSize(1L << 30)).isEqualTo("1 GiB");
    assertThat(QemuNumbers.humanSize(196 * 1024)).isEqualTo("196 KiB");
    assertThat(QemuNumbers.humanSize(1536 * 1024)).isEqualTo("1.5 MiB");
    assertThat(QemuNumbers.humanSize(1000)).isEqualTo("0.977 KiB");
    assertThat(QemuNumbers.humanSize(999)).isEqualTo("999 B");
    assertThat(QemuNumbers.humanSize(1023L * 1024 * 1024)).isEqualTo("0.999 GiB");
    // 999.5 KiB: the tie rounds to even, up to 1e+03 (printf "%0.3g")
    assertThat(QemuNumbers.formatG3(999.5)).isEqualTo("1e+03");
    assertThat(QemuNumbers.formatG3(99.95)).isEqualTo(reference(99.95));
    assertThat(QemuNumbers.formatG3(9.995)).isEqualTo(reference(9.995));
    assertThat(QemuNumbers.formatG3(2.125)).isEqualTo("2.12");
    assertThat(QemuNumbers.formatG3(2.375)).isEqualTo("2.38");
  }

  @Test
  void threeSignificantDigitsAgreeWithTheExactRounding() {
    SplittableRandom random = new SplittableRandom(7);
    for (long bytes = 0; bytes < 70_000; bytes++) {
      assertThat(QemuNumbers.formatG3(bytes / 1024.0)).as("%d", bytes).isEqualTo(reference(bytes / 1024.0));
    }
    for (int i = 0; i < 200_000; i++) {
      double value = random.nextDouble(0.5, 1100);
      assertThat(QemuNumbers.formatG3(value)).as("%s", value).isEqualTo(reference(value));
      long bytes = random.nextLong(1L << 62);
      assertThat(QemuNumbers.humanSize(bytes)).isNotEmpty();
      double scaled = bytes / Math.scalb(1.0, 10 * random.nextInt(7));
      assertThat(QemuNumbers.formatG3(scaled)).as("%s", scaled).isEqualTo(reference(scaled));
    }
  }

  @Test
  void fixedDecimalsAgreeWithTheExactRounding() {
    SplittableRandom random = new SplittableRandom(11);
    double[] edges = {0.0, 0.125, 0.5, 1.5, 2.5, 0.005, 0.015, 0.025, 1e-300, Double.MIN_VALUE, 0x1p52 - 1, 123.456,
        99.995, 4503599627370495.5, 1.0 / 3};
    for (int decimals = 0; decimals <= 9; decimals++) {
      for (double value : edges) {
        assertThat(QemuNumbers.fixed(value, decimals)).as("%s %d", value, decimals)
            .isEqualTo(new BigDecimal(value).setScale(decimals, RoundingMode.HALF_EVEN).toPlainString());
      }
    }
    for (int i = 0; i < 300_000; i++) {
      int decimals = random.nextInt(10);
      double value = switch (i % 4) {
        case 0 -> random.nextDouble(0, 100);
        case 1 -> random.nextDouble(0, 1e9);
        case 2 -> random.nextLong(1 << 20) / 1024.0;
        default -> random.nextLong(1000) / 8.0;
      };
      assertThat(QemuNumbers.fixed(value, decimals)).as("%s %d", value, decimals)
          .isEqualTo(new BigDecimal(value).setScale(decimals, RoundingMode.HALF_EVEN).toPlainString());
    }
    assertThat(QemuNumbers.fixed(-1.25, 1)).isEqualTo("-1.2");
    assertThat(ProgressPrinter.format(33.335f)).isEqualTo(new BigDecimal(33.335f).setScale(2, RoundingMode.HALF_EVEN)
        .toPlainString());
    assertThat(ProgressPrinter.format(100f)).isEqualTo("100.00");
  }

  /** printf("%0.3g") through the exact decimal expansion. */
  private static String reference(double value) {
    if (value == 0) {
      return "0";
    }
    BigDecimal rounded = new BigDecimal(value).round(new MathContext(3, RoundingMode.HALF_EVEN));
    int exponent = rounded.precision() - rounded.scale() - 1;
    if (exponent < -4 || exponent >= 3) {
      BigDecimal mantissa = rounded.movePointLeft(exponent).stripTrailingZeros();
      String digits = mantissa.scale() <= 0 ? mantissa.toBigInteger().toString() : mantissa.toPlainString();
      return digits + "e" + (exponent < 0 ? "-" : "+") + (Math.abs(exponent) < 10 ? "0" : "") + Math.abs(exponent);
    }
    BigDecimal plain = rounded.stripTrailingZeros();
    return plain.scale() <= 0 ? plain.toBigInteger().toString() : plain.toPlainString();
  }
}
