package io.qcow4j.options;

import java.util.ArrayList;
import java.util.List;

/**
 * An ordered list of the options a format, protocol or command takes (QEMU's QemuOptsList). The
 * order is QEMU's: the "Formatting" line prints options in it; -o help sorts them.
 */
public final class OptionList {
  private final List<OptionDescriptor> descriptors;

  OptionList(List<OptionDescriptor> descriptors) {
    this.descriptors = List.copyOf(descriptors);
  }

  /** The options, in QEMU's order. */
  public List<OptionDescriptor> descriptors() {
    return descriptors;
  }

  /** The option of that name, or null. */
  public OptionDescriptor find(String name) {
    for (OptionDescriptor descriptor : descriptors) {
      if (descriptor.name().equals(name)) {
        return descriptor;
      }
    }
    return null;
  }

  /** qemu_opts_append: this list, then those of {@code other} whose names it does not have yet. */
  public OptionList append(OptionList other) {
    List<OptionDescriptor> merged = new ArrayList<>(descriptors);
    for (OptionDescriptor descriptor : other.descriptors) {
      if (find(descriptor.name()) == null) {
        merged.add(descriptor);
      }
    }
    return new OptionList(merged);
  }

  /** qemu_opts_print_help without a caption: one line per option, sorted as strcmp sorts them. */
  public String helpText() {
    List<String> lines = new ArrayList<>();
    for (OptionDescriptor descriptor : descriptors) {
      lines.add(descriptor.helpLine());
    }
    lines.sort(null);
    StringBuilder text = new StringBuilder();
    for (String line : lines) {
      text.append(line).append('\n');
    }
    return text.toString();
  }
}
