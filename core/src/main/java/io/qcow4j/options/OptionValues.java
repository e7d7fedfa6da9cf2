package io.qcow4j.options;

import io.qcow4j.disk.InvalidOptionException;
import java.util.HashMap;
import java.util.Map;

/**
 * The values given for one option list (QEMU's QemuOpts): each checked against its descriptor as
 * it is set, with QemuOpts' messages, the later value of a name replacing the earlier one.
 */
public final class OptionValues {
  private static final String SIZE_HINT = "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, "
      + "peta-\nand exabytes, respectively.";

  private final OptionList list;
  /** The values as written. */
  private final Map<String, String> values = new HashMap<>();
  /** SIZE and NUMBER values, parsed (unsigned). */
  private final Map<String, Long> numbers = new HashMap<>();
  /** BOOL values, parsed. */
  private final Map<String, Boolean> booleans = new HashMap<>();

  private OptionValues(OptionList list) {
    this.list = list;
  }

  /** No values yet for the options of {@code list}. */
  public static OptionValues of(OptionList list) {
    return new OptionValues(list);
  }

  /** The values of a -o list (null: none), as qemu_opts_do_parse reads it. */
  public static OptionValues parse(OptionList list, String optionList) throws InvalidOptionException {
    OptionValues values = new OptionValues(list);
    if (optionList != null) {
      values.parse(optionList);
    }
    return values;
  }

  /** The options these values are for. */
  public OptionList list() {
    return list;
  }

  /** Sets every element of a -o list in order; fails at the first unknown name or bad value. */
  public void parse(String optionList) throws InvalidOptionException {
    for (OptionSyntax.Element element : OptionSyntax.elements(optionList)) {
      set(element.name(), element.value());
    }
  }

  /** Whether the list has an option of that name. */
  public boolean accepts(String name) {
    return list.find(name) != null;
  }

  /** qemu_opt_set: sets one option, checking its name and its value's type. */
  public void set(String name, String value) throws InvalidOptionException {
    OptionDescriptor descriptor = list.find(name);
    if (descriptor == null) {
      throw new InvalidOptionException("Invalid parameter '" + name + "'");
    }
    switch (descriptor.type()) {
      case BOOL -> booleans.put(name, parseBool(name, value));
      case NUMBER -> numbers.put(name, parseNumber(name, value));
      case SIZE -> numbers.put(name, parseSize(name, value));
      case STRING -> { }
    }
    values.put(name, value);
  }

  /** qemu_opt_set_number: a SIZE or NUMBER option set to a number, as qemu-img sets the size. */
  public void setNumber(String name, long value) {
    OptionDescriptor descriptor = list.find(name);
    if (descriptor == null || (descriptor.type() != OptionType.SIZE && descriptor.type() != OptionType.NUMBER)) {
      throw new IllegalArgumentException("not a size or number option: " + name);
    }
    numbers.put(name, value);
    values.put(name, Long.toString(value));
  }

  /** Whether the option was given. */
  public boolean has(String name) {
    return values.containsKey(name);
  }

  /** The option's value as given, or null. */
  public String string(String name) {
    return values.get(name);
  }

  /** A BOOL option's value, or {@code otherwise} when not given. */
  public boolean bool(String name, boolean otherwise) {
    return booleans.getOrDefault(name, otherwise);
  }

  /** A SIZE or NUMBER option's value (unsigned), or {@code otherwise} when not given. */
  public long number(String name, long otherwise) {
    return numbers.getOrDefault(name, otherwise);
  }

  /**
   * qemu_opts_print with spaces: every option given or with a default, in the list's order, as the
   * "Formatting" line prints them (strings with commas doubled, numbers as signed decimals).
   */
  public String describe() {
    StringBuilder text = new StringBuilder();
    for (OptionDescriptor descriptor : list.descriptors()) {
      String name = descriptor.name();
      String value = values.get(name);
      String shown;
      if (value == null) {
        shown = descriptor.defaultValue();
        if (shown == null) {
          continue;
        }
      } else if (descriptor.type() == OptionType.STRING) {
        shown = value.replace(",", ",,");
      } else if (descriptor.type() == OptionType.SIZE || descriptor.type() == OptionType.NUMBER) {
        shown = Long.toString(numbers.get(name));
      } else {
        shown = value;
      }
      if (!text.isEmpty()) {
        text.append(' ');
      }
      text.append(name).append('=').append(shown);
    }
    return text.toString();
  }

  /** A BOOL option's value as QemuOpts reads it (qapi_bool_parse's words), with its message. */
  public static boolean parseBool(String name, String value) throws InvalidOptionException {
    return switch (value) {
      case "on", "yes", "true", "y" -> true;
      case "off", "no", "false", "n" -> false;
      default -> throw new InvalidOptionException("Parameter '" + name + "' expects 'on' or 'off'");
    };
  }

  /** A NUMBER option's value as QemuOpts reads it (unsigned, qemu_strtou64), with its messages. */
  public static long parseNumber(String name, String value) throws InvalidOptionException {
    try {
      return OptionNumbers.parseUnsigned(value);
    } catch (OptionNumbers.FormatException e) {
      if (e.tooLarge()) {
        throw new InvalidOptionException("Value '" + value + "' is too large for parameter '" + name + "'");
      }
      throw new InvalidOptionException("Parameter '" + name + "' expects a number");
    }
  }

  /** A SIZE option's value as QemuOpts reads it (unsigned, qemu_strtosz), with its messages. */
  public static long parseSize(String name, String value) throws InvalidOptionException {
    try {
      return OptionNumbers.parseSize(value);
    } catch (OptionNumbers.FormatException e) {
      if (e.tooLarge()) {
        throw new InvalidOptionException("Value '" + value + "' is out of range for parameter '" + name + "'");
      }
      throw new InvalidOptionException("Parameter '" + name + "' expects a non-negative number below 2^64\n"
          + SIZE_HINT);
    }
  }
}
