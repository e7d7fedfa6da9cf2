package io.qcow4j.cli;

import io.qcow4j.spec.OptionString;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * qemu-img's -o option lists ("cluster_size=4k,compat=1.1", ",," for a literal comma), split by
 * the one QemuOpts parser ({@link OptionString}) and typed as QEMU's QemuOpts does, with its
 * messages: unknown names, booleans other than on/off, sizes and numbers that do not parse. The
 * last value of a repeated name wins.
 */
final class QemuOpts {
  /** The type of an option's value, checked as the list is parsed. */
  enum Kind { STRING, BOOL, SIZE, NUMBER }

  private final String format;
  private final Map<String, String> values;

  private QemuOpts(String format, Map<String, String> values) {
    this.format = format;
    this.values = values;
  }

  /**
   * Joins every -o argument with commas and parses the list for {@code format}, whose options and
   * their kinds are {@code kinds}; fails like qemu-img on a malformed list, an unknown name or a
   * value of the wrong kind.
   */
  static QemuOpts parse(String format, List<String> arguments, Map<String, Kind> kinds) {
    Map<String, String> values = new LinkedHashMap<>();
    if (arguments == null || arguments.isEmpty()) {
      return new QemuOpts(format, values);
    }
    for (String argument : arguments) {
      if (!validList(argument)) {
        throw new CommandFailure("Invalid option list: " + argument, 1);
      }
    }
    for (OptionString.Option option : OptionString.parse(String.join(",", arguments), null, false).options()) {
      if (kinds.get(option.name()) == null) {
        throw invalid("Invalid parameter '" + option.name() + "'", format);
      }
      values.put(option.name(), option.value());
    }
    QemuOpts opts = new QemuOpts(format, values);
    for (Map.Entry<String, String> entry : values.entrySet()) {
      switch (kinds.get(entry.getKey())) {
        case BOOL -> opts.bool(entry.getKey(), false);
        case SIZE -> opts.size(entry.getKey(), 0);
        case NUMBER -> opts.number(entry.getKey(), 0);
        case STRING -> { }
      }
    }
    return opts;
  }

  /** qemu-img's is_valid_option_list: not empty, not starting with a comma, no unescaped trailing comma. */
  private static boolean validList(String list) {
    if (list.isEmpty() || list.charAt(0) == ',') {
      return false;
    }
    int end = list.length();
    while (end > 0 && list.charAt(end - 1) == ',') {
      end--;
    }
    return (list.length() - end) % 2 == 0;
  }

  private static CommandFailure invalid(String reason, String format) {
    return new CommandFailure(reason + " (Invalid options for file format '" + format + "')", 1);
  }

  /** Whether {@code name} was given. */
  boolean has(String name) {
    return values.containsKey(name);
  }

  /** The value of {@code name} as given, or null. */
  String string(String name) {
    return values.get(name);
  }

  /** A boolean option (on/yes/true/y, off/no/false/n), or {@code fallback} when absent. */
  boolean bool(String name, boolean fallback) {
    String value = values.get(name);
    if (value == null) {
      return fallback;
    }
    return switch (value) {
      case "on", "yes", "true", "y" -> true;
      case "off", "no", "false", "n" -> false;
      default -> throw invalid("Parameter '" + name + "' expects 'on' or 'off'", format);
    };
  }

  /** A size option with k/M/G/T/P/E suffixes, or {@code fallback} when absent. */
  long size(String name, long fallback) {
    String value = values.get(name);
    if (value == null) {
      return fallback;
    }
    try {
      return QemuNumbers.parseSize(value);
    } catch (QemuNumbers.SizeFormatException e) {
      throw invalid("Parameter '" + name + "' expects a non-negative number below 2^64 (optional suffix k, M, G, T, P"
          + " or E means kilo-, mega-, giga-, tera-, peta- and exabytes, respectively)", format);
    }
  }

  /** A number option (decimal, 0x hex or 0 octal), or {@code fallback} when absent. */
  long number(String name, long fallback) {
    String value = values.get(name);
    if (value == null) {
      return fallback;
    }
    Long number = QemuNumbers.parseCInteger(value);
    if (number == null) {
      throw invalid("Parameter '" + name + "' expects a number", format);
    }
    return number;
  }
}
