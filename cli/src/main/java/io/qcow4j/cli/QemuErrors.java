package io.qcow4j.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Failures printed exactly as QEMU's tools print them, which is not always one line: a message with
 * a hint under it ("Could not open backing image."), or two error_report lines (the second repeats
 * the prefix in the message). The message is printed as it is after the program name, with the
 * stack trace under --debug.
 */
final class QemuErrors {
  /** What every error line starts with: the program's name, as "qemu-img: " for QEMU. */
  static final String PREFIX = Program.current().toolName() + ": ";

  private QemuErrors() {}

  /** Runs a command body, printing multi-line failures as QEMU does and returning their exit status. */
  static int run(CommandSpec spec, Callable<Integer> body) throws Exception {
    try {
      return body.call();
    } catch (CommandFailure failure) {
      spec.commandLine().getOut().flush();
      PrintWriter err = spec.commandLine().getErr();
      err.println(PREFIX + failure.getMessage());
      Failures.hint(failure).ifPresent(err::println);
      if (debug(spec)) {
        failure.printStackTrace(err);
      }
      err.flush();
      return failure.exitCode();
    }
  }

  /** qemu-img's error_exit: the message, then where to find help. */
  static CommandFailure usage(String message) {
    return new CommandFailure(message + "\nTry '" + Program.current().toolName() + " --help' for more information", 1);
  }

  private static boolean debug(CommandSpec spec) {
    for (CommandSpec each = spec; each != null; each = each.parent()) {
      if (each.commandLine().getParseResult() != null && each.commandLine().getParseResult().hasMatchedOption("--debug")) {
        return true;
      }
    }
    return false;
  }
}
