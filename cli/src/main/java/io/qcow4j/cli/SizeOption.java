package io.qcow4j.cli;

/** Parses size arguments of qemu-img options ("1G", "512k", "0x1000") with qemu-img's message on failure. */
final class SizeOption {
  private SizeOption() {}

  /** The value of a size option named {@code what} (e.g. "start offset"). */
  static long parse(String what, String text) {
    try {
      return QemuNumbers.parseSize(text);
    } catch (QemuNumbers.SizeFormatException e) {
      throw new CommandFailure("Invalid " + what + " specified: '" + text
          + "'. You may use k, M, G, T, P or E suffixes for kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.",
          1, e);
    }
  }
}
