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
    return new BigDecimal(value).setScale(decimals, RoundingMode.HALF_EVEN).toPlainString();
  }

  /**
   * C's strtol(text, &end, 0) that must consume the whole text: optional sign, then 0x hex, 0
   * octal or decimal. Returns null when the text is not such a number.
   */
  static Long parseCInteger(String text) {
    return OptionNumbers.parseSigned(text);
  }
}
