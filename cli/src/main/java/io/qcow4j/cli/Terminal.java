package io.qcow4j.cli;

import java.io.IOException;

/** Whether the process's standard streams are terminals, which decides how C's stdio would buffer them. */
final class Terminal {
  private Terminal() {}

  /**
   * Whether file descriptor {@code fd} is a terminal, read from /proc (System.console() would load
   * a line editor at start-up); false where /proc does not tell.
   */
  static boolean isTerminal(int fd) {
    try {
      String target = java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/fd/" + fd)).toString();
      return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
    } catch (IOException | UnsupportedOperationException | SecurityException e) {
      return false;
    }
  }
}
