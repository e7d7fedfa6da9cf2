package io.qcow4j.options;

import io.qcow4j.disk.InvalidOptionException;
import java.util.ArrayList;
import java.util.List;

/**
 * The "key=value,key=value" syntax of -o, as QEMU reads it: ",," stands for a comma in a value, a
 * bare "key" means key=on and "nokey" key=off, "id" is skipped, and a list that is empty, starts
 * with a comma or ends with an odd number of them is refused. qemu-img joins the arguments of
 * repeated -o options with commas, so the later value of a key wins.
 */
public final class OptionSyntax {
  /** One element of a list: an option name and its value as written (",," already made one comma). */
  public record Element(String name, String value) {}

  private OptionSyntax() {}

  /** qemu-img's is_valid_option_list for one -o argument. */
  public static boolean isValidList(String list) {
    if (list.isEmpty() || list.charAt(0) == ',') {
      return false;
    }
    int trailing = 0;
    for (int index = list.length() - 1; index >= 0 && list.charAt(index) == ','; index--) {
      trailing++;
    }
    return trailing % 2 == 0;
  }

  /**
   * qemu-img's accumulate_options over every -o argument in order: each checked, then all joined
   * with commas; null when there are none.
   */
  public static String accumulate(List<String> arguments) throws InvalidOptionException {
    if (arguments == null || arguments.isEmpty()) {
      return null;
    }
    for (String argument : arguments) {
      if (!isValidList(argument)) {
        throw new InvalidOptionException("Invalid option list: " + argument);
      }
    }
    return String.join(",", arguments);
  }

  /** has_help_option: whether an element of the list is exactly "help" or "?". */
  public static boolean wantsHelp(String list) {
    if (list == null) {
      return false;
    }
    int position = 0;
    while (position < list.length()) {
      StringBuilder value = new StringBuilder();
      position = readValue(list, position, value);
      if (position < list.length()) {
        position++;
      }
      String element = value.toString();
      if (element.equals("help") || element.equals("?")) {
        return true;
      }
    }
    return false;
  }

  /** The elements of a list in order, as opts_do_parse splits it ("id" left out). */
  public static List<Element> elements(String list) {
    return split(list, null, false, new ArrayList<>());
  }

  /**
   * The elements of an option string as qemu_opts_parse_noisily reads an --image-opts argument: a
   * bare first word is the value of {@code impliedName} (none when null), "id" is kept (QEMU
   * passes it on with the other options), and each short-form boolean ("name", "noname") adds
   * QEMU's deprecation warning to {@code warnings}.
   */
  public static List<Element> imageOptions(String list, String impliedName, List<String> warnings) {
    return split(list, impliedName, true, warnings);
  }

  private static List<Element> split(String list, String impliedName, boolean keepId, List<String> warnings) {
    List<Element> elements = new ArrayList<>();
    int position = 0;
    boolean first = true;
    while (position < list.length()) {
      int nameEnd = position;
      while (nameEnd < list.length() && list.charAt(nameEnd) != '=' && list.charAt(nameEnd) != ',') {
        nameEnd++;
      }
      String name = list.substring(position, nameEnd);
      String value;
      if (nameEnd < list.length() && list.charAt(nameEnd) == '=') {
        StringBuilder text = new StringBuilder();
        position = readValue(list, nameEnd + 1, text);
        value = text.toString();
      } else if (first && impliedName != null) {
        StringBuilder text = new StringBuilder();
        position = readValue(list, position, text);
        name = impliedName;
        value = text.toString();
      } else {
        position = nameEnd;
        String prefix = "";
        if (name.startsWith("no")) {
          name = name.substring(2);
          prefix = "no";
          value = "off";
        } else {
          value = "on";
        }
        if (!(prefix.isEmpty() && (name.equals("help") || name.equals("?")))) {
          warnings.add("short-form boolean option '" + prefix + name + "' deprecated\nPlease use " + name + "="
              + value + " instead");
        }
      }
      if (position < list.length()) {
        position++;
      }
      if (keepId || !name.equals("id")) {
        elements.add(new Element(name, value));
      }
      first = false;
    }
    return elements;
  }

  /** get_opt_value: up to the next single comma, ",," standing for one; returns the position after the value. */
  private static int readValue(String list, int start, StringBuilder value) {
    int position = start;
    while (position < list.length()) {
      char c = list.charAt(position);
      if (c == ',') {
        if (position + 1 < list.length() && list.charAt(position + 1) == ',') {
          value.append(',');
          position += 2;
          continue;
        }
        break;
      }
      value.append(c);
      position++;
    }
    return position;
  }
}
