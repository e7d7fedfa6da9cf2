package io.qcow4j.options;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;
import java.util.function.Consumer;

/** Numbers as QEMU reads them in option values: qemu_strtosz sizes and qemu_strtou64 numbers. */
public final class OptionNumbers {
  private static final BigInteger TWO_TO_64 = BigInteger.ONE.shiftLeft(64);
  /** Where this thread's qemu_strtosz warnings go (none when unset). */
  private static final ThreadLocal<Consumer<String>> WARNINGS = new ThreadLocal<>();

  private OptionNumbers() {}

  /** A size or number QEMU refuses; {@code tooLarge} for -ERANGE, else -EINVAL. */
  public static final class FormatException extends Exception {
    private static final long serialVersionUID = 1L;
    private final boolean tooLarge;

    FormatException(String text, boolean tooLarge) {
      super((tooLarge ? "argument too large: " : "not a number: ") + text);
      this.tooLarge = tooLarge;
    }

    /** Whether the text is a number, but not below 2^64. */
    public boolean tooLarge() {
      return tooLarge;
    }
  }

  /**
   * Sends the warnings {@link #parseSize} prints as qemu_strtosz prints them (a hex number with a
   * suffix) to {@code sink}, for the sizes this thread parses; null: nowhere.
   */
  public static void warnTo(Consumer<String> sink) {
    if (sink == null) {
      WARNINGS.remove();
    } else {
      WARNINGS.set(sink);
    }
  }

  /**
   * Whether qemu 7.2's do_strtosz warns about {@code text}: a hex number (0x, no fraction, below
   * 2^64) followed by a suffix, "Using a multiplier suffix on hex numbers is deprecated" (b, B, e
   * and E are hex digits there, not suffixes). It warns whether or not the rest of the text is
   * then accepted.
   */
  static boolean hexWithSuffix(String text) {
    int index = 0;
    while (index < text.length() && " \t\n\u000b\f\r".indexOf(text.charAt(index)) >= 0) {
      index++;
    }
    if (index < text.length() && (text.charAt(index) == '+' || text.charAt(index) == '-')) {
      // a minus is refused before the hex is looked at; a plus reads on
      if (text.charAt(index) == '-') {
        return false;
      }
      index++;
    }
    // strtoull in base 10 reads "0" (or zeros) and stops at the x; in base 16 the 0x prefix is
    // taken only as the number's first two characters, followed by a hex digit
    if (!(index + 2 < text.length() && text.charAt(index) == '0'
        && (text.charAt(index + 1) == 'x' || text.charAt(index + 1) == 'X')
        && Character.digit(text.charAt(index + 2), 16) >= 0)) {
      return false;
    }
    index += 2;
    int digitsStart = index;
    while (index < text.length() && Character.digit(text.charAt(index), 16) >= 0) {
      index++;
    }
    String digits = text.substring(digitsStart, index).replaceFirst("^0+", "");
    if (digits.length() > 16) {
      // ERANGE: no warning
      return false;
    }
    return index < text.length() && "kKmMgGtTpP".indexOf(text.charAt(index)) >= 0;
  }

  /**
   * Parses a size like qemu 7.2's qemu_strtosz: decimal digits with an optional fraction, or 0x
   * hex (no fraction), then an optional suffix B, K, M, G, T, P, E (either case, powers of 1024;
   * a fraction needs one). The result is below 2^64 and returned as an unsigned value.
   */
  public static long parseSize(String text) throws FormatException {
    Consumer<String> warnings = WARNINGS.get();
    if (warnings != null && hexWithSuffix(text)) {
      warnings.accept("Using a multiplier suffix on hex numbers is deprecated: " + text);
    }
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
      throw new FormatException(text, false);
    }
    char next = index < s.length() ? s.charAt(index) : 0;
    if (index - digitsStart <= 18 && next != '.' && next != 'x' && next != 'X') {
      // the common case in long arithmetic (BigDecimal's class initialization alone is 10-15 ms
      // of a command's start-up): decimal digits and at most a suffix, the product below 2^63
      long multiplier = 1;
      int end = index;
      if (end < s.length()) {
        multiplier = multiplier(s.charAt(end));
        if (multiplier < 0) {
          throw new FormatException(text, false);
        }
        end++;
      }
      if (end != s.length()) {
        throw new FormatException(text, false);
      }
      long digits = Long.parseLong(s, digitsStart, index, 10);
      if (digits <= Long.MAX_VALUE / multiplier) {
        return digits * multiplier;
      }
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
        throw new FormatException(text, false);
      }
      // qemu 7.2 still takes a suffix after hex digits (deprecated), but no fraction
      if (index < s.length() && s.charAt(index) == '.') {
        throw new FormatException(text, false);
      }
      value = new BigDecimal(new BigInteger(s.substring(hexStart, index), 16));
    } else if (index < s.length() && s.charAt(index) == '.') {
      int fractionStart = index++;
      while (index < s.length() && isDigit(s.charAt(index))) {
        index++;
      }
      if (index < s.length() && (s.charAt(index) == 'e' || s.charAt(index) == 'E')
          && index + 1 < s.length() && (isDigit(s.charAt(index + 1)) || s.charAt(index + 1) == '-'
          || s.charAt(index + 1) == '+')) {
        throw new FormatException(text, false);
      }
      String digits = s.substring(fractionStart + 1, index);
      // qemu reads the fraction with strtod and keeps it as 64-bit fixed point (the double's
      // value times 2^64, truncated), not as the exact decimal: "0.20704E" is 238700868313801600
      BigDecimal twoTo64 = new BigDecimal(TWO_TO_64);
      BigDecimal fixedPoint = new BigDecimal(Double.parseDouble("0." + (digits.isEmpty() ? "0" : digits)))
          .multiply(twoTo64).setScale(0, RoundingMode.FLOOR);
      value = new BigDecimal(integral).add(fixedPoint.divide(twoTo64));
      fraction = !digits.isEmpty() && new BigDecimal("0." + digits).signum() != 0;
    } else {
      value = new BigDecimal(integral);
    }
    long multiplier = 1;
    if (index < s.length()) {
      multiplier = multiplier(s.charAt(index));
      if (multiplier < 0) {
        throw new FormatException(text, false);
      }
      index++;
    }
    if (index != s.length()) {
      throw new FormatException(text, false);
    }
    if (multiplier == 1 && fraction) {
      throw new FormatException(text, false);
    }
    BigInteger result = value.multiply(BigDecimal.valueOf(multiplier)).setScale(0, RoundingMode.HALF_UP)
        .toBigIntegerExact();
    if (result.compareTo(TWO_TO_64) >= 0) {
      throw new FormatException(text, true);
    }
    return result.longValue();
  }

  /**
   * C's strtoull(text, &end, 0) that must consume the whole text, as qemu_strtou64 reads numbers:
   * leading blanks, an optional sign (a minus wraps modulo 2^64), then 0x hex, 0 octal or decimal.
   * Fails when the text is not such a number, or as too large when its magnitude is not below 2^64.
   */
  public static long parseUnsigned(String text) throws FormatException {
    BigInteger value = cInteger(text);
    if (value == null) {
      throw new FormatException(text, false);
    }
    if (value.abs().compareTo(TWO_TO_64) >= 0) {
      throw new FormatException(text, true);
    }
    return value.longValue();
  }

  /**
   * C's strtol(text, &end, 0) that must consume the whole text: optional sign, then 0x hex, 0
   * octal or decimal; null when the text is not such a number or does not fit a signed 64-bit value.
   */
  public static Long parseSigned(String text) {
    BigInteger value = cInteger(text);
    return value == null || value.bitLength() > 63 ? null : value.longValue();
  }

  /** The whole text read as strtol/strtoull read it (blanks, sign, 0x hex, 0 octal, decimal); null if it is not one. */
  private static BigInteger cInteger(String text) {
    String s = text.stripLeading();
    boolean negative = false;
    int index = 0;
    if (index < s.length() && (s.charAt(index) == '+' || s.charAt(index) == '-')) {
      negative = s.charAt(index) == '-';
      index++;
    }
    int radix = 10;
    if (s.startsWith("0x", index) || s.startsWith("0X", index)) {
      if (index + 2 < s.length() && Character.digit(s.charAt(index + 2), 16) >= 0) {
        radix = 16;
        index += 2;
      }
    } else if (s.startsWith("0", index)) {
      radix = 8;
    }
    String digits = s.substring(index);
    if (digits.isEmpty() || !Character.isLetterOrDigit(digits.charAt(0))) {
      return null;
    }
    try {
      BigInteger magnitude = new BigInteger(digits, radix);
      return negative ? magnitude.negate() : magnitude;
    } catch (NumberFormatException e) {
      return null;
    }
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
