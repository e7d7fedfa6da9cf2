package io.qcow4j.cli;

import io.qcow4j.options.OptionNumbers;
import java.math.BigDecimal;
import java.math.RoundingMode;

/** Numbers as QEMU's tools read and write them: qemu_strtosz sizes, size_to_str, and qemu-io's cvtstr. */
final class QemuNumbers {
  private static final String[] BINARY_PREFIXES = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};

  private QemuNumbers() {}

  /** A size that qemu_strtosz refuses; {@code tooLarge} for -ERANGE, else -EINVAL. */
  static final class SizeFormatException extends Exception {
    private static final long serialVersionUID = 1L;
    private final boolean tooLarge;

    SizeFormatException(String text, boolean tooLarge) {
      super((tooLarge ? "argument too large: " : "not a size: ") + text);
      this.tooLarge = tooLarge;
    }

    boolean tooLarge() {
      return tooLarge;
    }
  }

  /**
   * Parses a size like qemu 7.2's qemu_strtosz ({@link OptionNumbers#parseSize}), as qemu-img's
   * cvtnum takes it: the result must fit a signed 64-bit value.
   */
  static long parseSize(String text) throws SizeFormatException {
    long size;
    try {
      size = OptionNumbers.parseSize(text);
    } catch (OptionNumbers.FormatException e) {
      throw new SizeFormatException(text, e.tooLarge());
    }
    if (size < 0) {
      throw new SizeFormatException(text, true);
    }
    return size;
  }

  /** qemu's size_to_str: "0 B", "324 KiB", "1 GiB", "1.5 MiB" (three significant digits). */
  static String humanSize(long bytes) {
    double value = bytes < 0 ? bytes + 0x1p64 : bytes;
    // frexp(value / (1000 / 1024)) gives an exponent e with 2^(e-1) <= scaled < 2^e
    double scaled = value / (1000.0 / 1024.0);
    int exponent = scaled == 0 ? 0 : Math.getExponent(scaled) + 1;
    int prefix = (exponent - 1) / 10;
    if (prefix < 0) {
      prefix = 0;
    }
    double divisor = Math.scalb(1.0, prefix * 10);
    return formatG3(value / divisor) + " " + BINARY_PREFIXES[prefix] + "B";
  }

  /** C's printf("%0.3g"). */
  static String formatG3(double value) {
    if (value == 0) {
      return "0";
    }
    if (value >= 1 && value < 1000) {
      // the sizes qemu-img prints, without BigDecimal (whose class initialization alone is
      // 10-15 ms of a command's start-up): three significant digits, trailing zeros dropped
      int exponent = value >= 100 ? 2 : value >= 10 ? 1 : 0;
      int decimals = 2 - exponent;
      long digits = scaledHalfEven(value, decimals);
      if (digits == 1000) {
        // rounded up to the next power of ten
        return exponent == 2 ? "1e+03" : exponent == 1 ? "100" : "10";
      }
      String plain = withDecimals(digits, decimals);
      int end = plain.length();
      if (decimals > 0) {
        while (plain.charAt(end - 1) == '0') {
          end--;
        }
        if (plain.charAt(end - 1) == '.') {
          end--;
        }
      }
      return plain.substring(0, end);
    }
    BigDecimal rounded = new BigDecimal(value).round(new java.math.MathContext(3, RoundingMode.HALF_EVEN));
    int exponent = rounded.precision() - rounded.scale() - 1;
    if (exponent < -4 || exponent >= 3) {
      BigDecimal mantissa = rounded.movePointLeft(exponent).stripTrailingZeros();
      String digits = mantissa.scale() <= 0 ? mantissa.toBigInteger().toString() : mantissa.toPlainString();
      return digits + "e" + (exponent < 0 ? "-" : "+") + (Math.abs(exponent) < 10 ? "0" : "") + Math.abs(exponent);
    }
    BigDecimal plain = rounded.stripTrailingZeros();
    return plain.scale() <= 0 ? plain.toBigInteger().toString() : plain.toPlainString();
  }

  /** qemu-io's cvtstr: "%.3f" of the value in the largest binary unit it reaches ("%f" of bytes), ".000" dropped. */
  static String ioSize(double value) {
    String suffix;
    double scaled = value;
    if (Double.isNaN(value) || Double.isInfinite(value)) {
      return Double.isNaN(value) ? "-nan bytes" : "inf EiB";
    }
    if (value >= 0x1p60) {
      suffix = " EiB";
      scaled = value / 0x1p60;
    } else if (value >= 0x1p50) {
      suffix = " PiB";
      scaled = value / 0x1p50;
    } else if (value >= 0x1p40) {
      suffix = " TiB";
      scaled = value / 0x1p40;
    } else if (value >= 0x1p30) {
      suffix = " GiB";
      scaled = value / 0x1p30;
    } else if (value >= 0x1p20) {
      suffix = " MiB";
      scaled = value / 0x1p20;
    } else if (value >= 0x1p10) {
      suffix = " KiB";
      scaled = value / 0x1p10;
    } else {
      suffix = " bytes";
    }
    // cvtstr prints bytes with "%f" (six decimals), the binary units with "%.3f"
    String text = fixed(scaled, suffix.equals(" bytes") ? 6 : 3);
    int trim = text.indexOf(".000");
    return (trim >= 0 ? text.substring(0, trim) : text) + suffix;
  }

  /** C's printf("%.Nf"), rounding the exact binary value half-even as glibc does. */
  static String fixed(double value, int decimals) {
    if (Double.isInfinite(value)) {
      return value > 0 ? "inf" : "-inf";
    }
    if (Double.isNaN(value)) {
      return "-nan";
    }
    long scaled = scaledHalfEven(value, decimals);
    if (scaled >= 0) {
      return withDecimals(scaled, decimals);
    }
    return new BigDecimal(value).setScale(decimals, RoundingMode.HALF_EVEN).toPlainString();
  }

  private static final long[] POWERS_OF_TEN = {1L, 10L, 100L, 1_000L, 10_000L, 100_000L, 1_000_000L, 10_000_000L,
      100_000_000L, 1_000_000_000L};

  /**
   * {@code value} times 10^{@code decimals} rounded half-even, exactly (the value's binary
   * expansion, as glibc's printf rounds it), in long arithmetic; -1 when that does not do: a
   * negative, infinite or NaN value, one of 2^52 or more, more than nine decimals.
   */
  static long scaledHalfEven(double value, int decimals) {
    if (!(value >= 0) || value >= 0x1p52 || decimals < 0 || decimals >= POWERS_OF_TEN.length) {
      return -1;
    }
    long bits = Double.doubleToRawLongBits(value);
    int biased = (int) (bits >>> 52) & 0x7ff;
    long mantissa = bits & ((1L << 52) - 1);
    int shift;
    if (biased == 0) {
      shift = 1074;
    } else {
      mantissa |= 1L << 52;
      shift = 1075 - biased;
    }
    if (mantissa == 0) {
      return 0;
    }
    // value * 10^decimals = (high:low) / 2^shift, the product below 2^83, shift at least 1
    long power = POWERS_OF_TEN[decimals];
    long high = Math.multiplyHigh(mantissa, power);
    long low = mantissa * power;
    if (shift > 120) {
      return 0; // below 2^-37: rounds to zero
    }
    long quotient;
    int remainderVersusHalf;
    if (shift < 64) {
      if ((high >>> shift) != 0) {
        return -1;
      }
      quotient = (high << (64 - shift)) | (low >>> shift);
      if (quotient < 0) {
        return -1;
      }
      long remainder = low & ((1L << shift) - 1);
      remainderVersusHalf = Long.compare(remainder, 1L << (shift - 1));
    } else if (shift == 64) {
      quotient = high;
      remainderVersusHalf = Long.compareUnsigned(low, Long.MIN_VALUE);
    } else {
      quotient = high >>> (shift - 64);
      long remainderHigh = high & ((1L << (shift - 64)) - 1);
      long halfHigh = 1L << (shift - 65);
      remainderVersusHalf = remainderHigh != halfHigh ? Long.compare(remainderHigh, halfHigh) : low == 0 ? 0 : 1;
    }
    if (remainderVersusHalf > 0 || (remainderVersusHalf == 0 && (quotient & 1) != 0)) {
      quotient++;
    }
    return quotient;
  }

  /** {@code scaled} / 10^{@code decimals} written with exactly that many decimals. */
  private static String withDecimals(long scaled, int decimals) {
    if (decimals == 0) {
      return Long.toString(scaled);
    }
    long power = POWERS_OF_TEN[decimals];
    String fraction = Long.toString(scaled % power);
    return scaled / power + "." + "0".repeat(decimals - fraction.length()) + fraction;
  }

  /**
   * C's strtol(text, &end, 0) that must consume the whole text: optional sign, then 0x hex, 0
   * octal or decimal. Returns null when the text is not such a number.
   */
  static Long parseCInteger(String text) {
    return OptionNumbers.parseSigned(text);
  }
}
