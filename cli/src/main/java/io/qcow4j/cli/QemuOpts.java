package io.qcow4j.cli;

import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.options.OptionSyntax;
import java.util.List;

/**
 * The -o arguments of a command, handed to the option model of core ({@code io.qcow4j.options}),
 * which parses and checks them as QEMU's QemuOpts does; this joins them as qemu-img does.
 */
final class QemuOpts {
  private QemuOpts() {}

  /**
   * qemu-img's accumulate_options over every -o argument: each must be a valid list, and they are
   * joined with commas (a later value of a name wins); null when there is none.
   */
  static String accumulate(List<String> arguments) {
    try {
      return OptionSyntax.accumulate(arguments);
    } catch (InvalidOptionException e) {
      throw new CommandFailure(e.getMessage(), 1, e);
    }
  }
}
