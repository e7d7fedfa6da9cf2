package io.qcow4j.spec;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;

/**
 * Option values read as QEMU reads them: booleans (qapi_bool_parse), sizes (qemu_strtosz) and
 * unsigned numbers (qemu_strtou64), each refusal with the message QemuOpts gives for it.
 */
public final class QemuValues {
  private static final BigInteger TWO_TO_64 = BigInteger.ONE.shiftLeft(64);

  private QemuValues() {}

  /** A size that qemu_strtosz refuses; {@link #tooLarge()} for its -ERANGE, else -EINVAL. */
  public static final class SizeFormatException extends Exception {
    private static final long serialVersionUID = 1L;
    private final boolean tooLarge;

    SizeFormatException(String text, boolean tooLarge) {
      super((tooLarge ? "argument too large: " : "not a size: ") + text);
      this.tooLarge = tooLarge;
    }

    /** Whether the text was a size, only too large for 63 bits. */
    public boolean tooLarge() {
      return tooLarge;
    }
  }

  /**
   * A boolean as qapi_bool_parse reads it ("on", "yes", "true", "y" and "off", "no", "false", "n"),
   * or null for any other text.
   */
  public static Boolean parseBool(String text) {
    return switch (text) {
      case "on", "yes", "true", "y" -> Boolean.TRUE;
      case "off", "no", "false", "n" -> Boolean.FALSE;
      default -> null;
    };
  }

  /**
   * Parses a size like qemu 7.2's qemu_strtosz: decimal digits with an optional fraction, or 0x
   * hex (no fraction), then an optional suffix B, K, M, G, T, P, E (either case, powers of 1024;
   * a fraction needs one). The result must fit a signed 64-bit value.
   */
  public static long parseSize(String text) throws SizeFormatException {
    String s = text.stripLeading();
    int index = 0;
    if (index < s.length() && s.charAt(index) == '+') {
      index++;
    }
    int digitsStart = index;
    while (index < s.length() && isDigit(s.charAt(index))) {
      index++;
    }
    if (index == digitsStart) {
      throw new SizeFormatException(text, false);
    }
    BigInteger integral = new BigInteger(s.substring(digitsStart, index));
    BigDecimal value;
    boolean fraction = false;
    if (integral.signum() == 0 && index < s.length() && (s.charAt(index) == 'x' || s.charAt(index) == 'X')) {
      int hexStart = ++index;
      while (index < s.length() && Character.digit(s.charAt(index), 16) >= 0) {
        index++;
      }
      if (index == hexStart) {
        throw new SizeFormatException(text, false);
      }
      // qemu 7.2 still takes a suffix after hex digits (deprecated), but no fraction
      if (index < s.length() && s.charAt(index) == '.') {
        throw new SizeFormatException(text, false);
      }
      value = new BigDecimal(new BigInteger(s.substring(hexStart, index), 16));
    } else if (index < s.length() && s.charAt(index) == '.') {
      int fractionStart = index++;
      while (index < s.length() && isDigit(s.charAt(index))) {
        index++;
      }
      if (index < s.length() && (s.charAt(index) == 'e' || s.charAt(index) == 'E')
          && index + 1 < s.length() && (isDigit(s.charAt(index + 1)) || s.charAt(index + 1) == '-' || s.charAt(index + 1) == '+')) {
        throw new SizeFormatException(text, false);
      }
      String digits = s.substring(fractionStart + 1, index);
      value = new BigDecimal(integral + "." + (digits.isEmpty() ? "0" : digits));
      fraction = !digits.isEmpty() && new BigDecimal("0." + digits).signum() != 0;
    } else {
      value = new BigDecimal(integral);
    }
    long multiplier = 1;
    if (index < s.length()) {
      multiplier = multiplier(s.charAt(index));
      if (multiplier < 0) {
        throw new SizeFormatException(text, false);
      }
      index++;
    }
    if (index != s.length()) {
      throw new SizeFormatException(text, false);
    }
    if (multiplier == 1 && fraction) {
      throw new SizeFormatException(text, false);
    }
    BigInteger result = value.multiply(BigDecimal.valueOf(multiplier)).setScale(0, RoundingMode.HALF_UP).toBigIntegerExact();
    if (result.bitLength() > 63) {
      throw new SizeFormatException(text, true);
    }
    return result.longValueExact();
  }

  /**
   * An unsigned 64-bit number as qemu_strtou64 reads it (strtoull in base 0: 0x hex, 0 octal,
   * decimal; a leading minus wraps around, as strtoull does), or null when the text is not one.
   * The result is the two's complement bit pattern: compare it with {@link Long#compareUnsigned}.
   */
  public static Long parseUnsigned(String text) {
    BigInteger value = unsignedValue(text);
    return value == null || value.compareTo(TWO_TO_64) >= 0 ? null : value.longValue();
  }

  /** As {@link #parseUnsigned}, but a number of 2^64 or more comes back as it is (strtoull's ERANGE). */
  static BigInteger unsignedValue(String text) {
    String s = text.stripLeading();
    boolean negative = false;
    int index = 0;
    if (index < s.length() && (s.charAt(index) == '+' || s.charAt(index) == '-')) {
      negative = s.charAt(index) == '-';
      index++;
    }
    int radix = 10;
    if ((s.startsWith("0x", index) || s.startsWith("0X", index))
        && index + 2 < s.length() && Character.digit(s.charAt(index + 2), 16) >= 0) {
      radix = 16;
      index += 2;
    } else if (s.startsWith("0", index)) {
      radix = 8;
    }
    String digits = s.substring(index);
    if (digits.isEmpty() || digits.charAt(0) == '+' || digits.charAt(0) == '-') {
      return null;
    }
    BigInteger magnitude;
    try {
      magnitude = new BigInteger(digits, radix);
    } catch (NumberFormatException e) {
      return null;
    }
    if (magnitude.compareTo(TWO_TO_64) >= 0) {
      return magnitude;
    }
    return negative ? TWO_TO_64.subtract(magnitude).mod(TWO_TO_64) : magnitude;
  }

  /** QemuOpts' message for a number option that is too large for 64 bits. */
  static String numberTooLargeMessage(String name, String value) {
    return "Value '" + value + "' is too large for parameter '" + name + "'";
  }

  /** QemuOpts' message for a boolean option given another value. */
  static String boolMessage(String name) {
    return "Parameter '" + name + "' expects 'on' or 'off'";
  }

  /** QemuOpts' message (with its hint lines) for a size option that does not parse. */
  static String sizeMessage(String name, String value, SizeFormatException failure) {
    if (failure.tooLarge()) {
      return "Value '" + value + "' is out of range for parameter '" + name + "'";
    }
    return "Parameter '" + name + "' expects a non-negative number below 2^64\n"
        + "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
        + "and exabytes, respectively.";
  }

  /** QemuOpts' message for a number option that does not parse. */
  static String numberMessage(String name) {
    return "Parameter '" + name + "' expects a number";
  }

  private static boolean isDigit(char c) {
    return c >= '0' && c <= '9';
  }

  private static long multiplier(char suffix) {
    return switch (Character.toUpperCase(suffix)) {
      case 'B' -> 1L;
      case 'K' -> 1L << 10;
      case 'M' -> 1L << 20;
      case 'G' -> 1L << 30;
      case 'T' -> 1L << 40;
      case 'P' -> 1L << 50;
      case 'E' -> 1L << 60;
      default -> -1L;
    };
  }
}
