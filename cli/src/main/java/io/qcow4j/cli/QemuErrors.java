package io.qcow4j.cli;

/**
 * The prefix of every error line and qemu-img's usage failure; failures that are more than one line
 * as QEMU prints them (a hint under the message, or two error_report lines) are printed by
 * {@link Invocation#executeQemuStyle}.
 */
final class QemuErrors {
  /** What every error line starts with: the program's name, as "qemu-img: " for QEMU. */
  static final String PREFIX = Program.current().toolName() + ": ";

  private QemuErrors() {}

  /** qemu-img's error_exit: the message, then where to find help. */
  static CommandFailure usage(String message) {
    return new CommandFailure(message + "\nTry '" + Program.current().toolName() + " --help' for more information", 1);
  }
}
