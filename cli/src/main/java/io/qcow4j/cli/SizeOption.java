package io.qcow4j.cli;

/** Parses size arguments of qemu-img options ("1G", "512k", "0x1000") as its cvtnum does, with its messages. */
final class SizeOption {
  private SizeOption() {}

  /** The value of a size option named {@code what} (e.g. "start offset"), 0 to 2^63-1. */
  static long parse(String what, String text) {
    try {
      return QemuNumbers.parseSize(text);
    } catch (QemuNumbers.SizeFormatException e) {
      if (e.tooLarge()) {
        throw new CommandFailure("Invalid " + what + " specified. Must be between 0 and 9223372036854775807.", 1, e);
      }
      // two error_report lines
      throw new CommandFailure("Invalid " + what + " specified. You may use k, M, G, T, P or E suffixes for\n"
          + QemuErrors.PREFIX + "kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.", 1, e);
    }
  }
}
