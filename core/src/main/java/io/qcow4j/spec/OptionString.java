package io.qcow4j.spec;

import java.util.ArrayList;
import java.util.List;

/**
 * An option string as QEMU's QemuOpts parser reads one ("driver=qcow2,file.filename=a,,b"): names
 * and values split at single commas, ",," a literal comma inside a value, a bare first word taken
 * as the value of an implied name when there is one, and any other bare word a boolean flag
 * ("name" is name=on, "noname" is name=off; QEMU deprecates both forms and warns).
 */
public final class OptionString {
  /** One name and its value, in the order given. */
  public record Option(String name, String value) {}

  private final List<Option> options;
  private final List<String> warnings;

  private OptionString(List<Option> options, List<String> warnings) {
    this.options = List.copyOf(options);
    this.warnings = List.copyOf(warnings);
  }

  /**
   * Parses {@code text}; a bare first word is the value of {@code impliedName} (none when null);
   * {@code warnOnFlag}: collect QEMU's deprecation warning for each short-form boolean.
   */
  public static OptionString parse(String text, String impliedName, boolean warnOnFlag) {
    List<Option> options = new ArrayList<>();
    List<String> warnings = new ArrayList<>();
    int at = 0;
    boolean first = true;
    while (at < text.length()) {
      int nameEnd = at;
      while (nameEnd < text.length() && text.charAt(nameEnd) != '=' && text.charAt(nameEnd) != ',') {
        nameEnd++;
      }
      if (nameEnd < text.length() && text.charAt(nameEnd) == '=') {
        String name = text.substring(at, nameEnd);
        StringBuilder value = new StringBuilder();
        at = readValue(text, nameEnd + 1, value);
        options.add(new Option(name, value.toString()));
      } else if (first && impliedName != null) {
        StringBuilder value = new StringBuilder();
        at = readValue(text, at, value);
        options.add(new Option(impliedName, value.toString()));
      } else {
        String name = text.substring(at, nameEnd);
        at = nameEnd;
        String prefix = "";
        String value = "on";
        if (name.startsWith("no")) {
          name = name.substring(2);
          prefix = "no";
          value = "off";
        }
        if (warnOnFlag && !(prefix.isEmpty() && isHelp(name))) {
          warnings.add("short-form boolean option '" + prefix + name + "' deprecated\nPlease use " + name + "="
              + value + " instead");
        }
        options.add(new Option(name, value));
      }
      if (at < text.length() && text.charAt(at) == ',') {
        at++;
      }
      first = false;
    }
    return new OptionString(options, warnings);
  }

  /** Reads a value from {@code at} up to a single comma (",," is a literal one); returns where it ends. */
  private static int readValue(String text, int at, StringBuilder value) {
    while (at < text.length()) {
      char c = text.charAt(at);
      if (c == ',') {
        if (at + 1 < text.length() && text.charAt(at + 1) == ',') {
          value.append(',');
          at += 2;
          continue;
        }
        break;
      }
      value.append(c);
      at++;
    }
    return at;
  }

  /** QEMU's is_help_option. */
  public static boolean isHelp(String name) {
    return name.equals("help") || name.equals("?");
  }

  /** The options in the order given (a repeated name appears each time). */
  public List<Option> options() {
    return options;
  }

  /** QEMU's deprecation warnings for the short-form booleans, one per flag (without "warning: "). */
  public List<String> warnings() {
    return warnings;
  }
}
