package io.qcow4j.spec;

import io.qcow4j.internal.spec.QDict;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.options.OptionValues;
import java.math.BigInteger;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The flat block options of one node ("file.filename" → "x"), as QEMU's block layer holds them in
 * a QDict while a driver takes the ones it knows: scalar values are read as QemuOpts reads them
 * (booleans "on"/"off", numbers in decimal), what is left at the end is refused by name.
 */
final class BlockOptions {
  private final Map<String, Object> values;

  BlockOptions(Map<String, Object> values) {
    this.values = new LinkedHashMap<>(values);
  }

  /** A copy, so that a driver can take options from it without changing this one. */
  BlockOptions copy() {
    return new BlockOptions(values);
  }

  boolean has(String key) {
    return values.containsKey(key);
  }

  boolean isEmpty() {
    return values.isEmpty();
  }

  /** The raw value (String, Long, BigInteger, Double, Boolean, null, Map or List). */
  Object raw(String key) {
    return values.get(key);
  }

  /** Sets {@code key} to {@code value}. */
  void put(String key, Object value) {
    values.put(key, value);
  }

  /** Removes the key whatever its value. */
  Object remove(String key) {
    return values.remove(key);
  }

  /**
   * Takes a scalar option as the string QemuOpts sees (qemu_opts_absorb_qdict): null when absent;
   * a null, object or array value is not taken and stays to be refused as unknown.
   */
  String take(String key) {
    if (!values.containsKey(key)) {
      return null;
    }
    String text = scalar(values.get(key));
    if (text != null) {
      values.remove(key);
    }
    return text;
  }

  /** Takes a boolean option; null when absent. */
  Boolean takeBool(String key) throws ImageSpecException {
    String text = take(key);
    if (text == null) {
      return null;
    }
    try {
      return OptionValues.parseBool(key, text);
    } catch (InvalidOptionException e) {
      throw new ImageSpecException(e.getMessage());
    }
  }

  /** Takes a size option (k, M, G... suffixes; unsigned, compare with Long.compareUnsigned); null when absent. */
  Long takeSize(String key) throws ImageSpecException {
    String text = take(key);
    if (text == null) {
      return null;
    }
    try {
      return OptionValues.parseSize(key, text);
    } catch (InvalidOptionException e) {
      throw new ImageSpecException(e.getMessage());
    }
  }

  /** Takes an unsigned number option (its 64 bits, compare unsigned); null when absent. */
  Long takeNumber(String key) throws ImageSpecException {
    String text = take(key);
    if (text == null) {
      return null;
    }
    try {
      return OptionValues.parseNumber(key, text);
    } catch (InvalidOptionException e) {
      throw new ImageSpecException(e.getMessage());
    }
  }

  /** Takes an enumerated option, refusing other values with QAPI's "invalid parameter value". */
  String takeChoice(String key, List<String> choices) throws ImageSpecException {
    String text = take(key);
    if (text != null && !choices.contains(text)) {
      throw new ImageSpecException("invalid parameter value: " + text);
    }
    return text;
  }

  /** Removes and returns the options under "prefix." with the prefix dropped (qdict_extract_subqdict). */
  BlockOptions extract(String prefix) {
    String dotted = prefix + ".";
    Map<String, Object> child = new LinkedHashMap<>();
    values.entrySet().removeIf(entry -> {
      if (entry.getKey().startsWith(dotted)) {
        child.put(entry.getKey().substring(dotted.length()), entry.getValue());
        return true;
      }
      return false;
    });
    return new BlockOptions(child);
  }

  /** The first key QEMU's QDict would iterate to, null when none is left. */
  String firstKey() {
    if (values.isEmpty()) {
      return null;
    }
    QDict order = new QDict();
    for (String key : values.keySet()) {
      order.put(key, Boolean.TRUE);
    }
    return order.keys().getFirst();
  }

  /** The options as an ordered map (for a nested spec). */
  Map<String, Object> asMap() {
    return new LinkedHashMap<>(values);
  }

  /** The QemuOpts string of a scalar JSON value (qemu_opts_from_qdict_entry), null for others. */
  static String scalar(Object value) {
    return switch (value) {
      case String text -> text;
      case Boolean flag -> flag ? "on" : "off";
      case Long number -> Long.toString(number);
      case BigInteger number -> number.toString();
      case Double number -> formatDouble(number);
      case null, default -> null;
    };
  }

  /** qnum_to_string of a double: "%.17g", which prints integral values without a fraction. */
  private static String formatDouble(double value) {
    if (value == Math.rint(value) && Math.abs(value) < 1e17) {
      return Long.toString((long) value);
    }
    return new java.math.BigDecimal(value).round(new java.math.MathContext(17)).stripTrailingZeros().toString();
  }
}
