package io.qcow4j.options;

import java.util.Objects;

/**
 * One option of a list (QEMU's QemuOptDesc): its name, type, help text, and the default printed in
 * the "Formatting" line when it is not given (null: not printed).
 */
public record OptionDescriptor(String name, OptionType type, String help, String defaultValue) {
  public OptionDescriptor {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(help, "help");
  }

  /** An option without a printed default. */
  static OptionDescriptor of(String name, OptionType type, String help) {
    return new OptionDescriptor(name, type, help, null);
  }

  /** The line -o help prints for it: the name and type, padded to 24 columns, then the help text. */
  String helpLine() {
    StringBuilder line = new StringBuilder("  ").append(name).append("=<").append(type.helpName()).append('>');
    while (line.length() < 24) {
      line.append(' ');
    }
    return line.append(" - ").append(help).toString();
  }
}
