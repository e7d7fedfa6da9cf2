package io.qcow4j.cli;

import io.qcow4j.internal.storage.NativeCalls;
import java.io.IOException;
import java.nio.channels.Channel;
import java.nio.channels.ServerSocketChannel;
import java.util.Map;

/**
 * qemu-nbd's systemd socket activation (QEMU's util/systemd.c and qemu-nbd.c): when LISTEN_PID is
 * this process's id, LISTEN_FDS sockets listen from descriptor 3 on, and the server accepts on
 * that one socket instead of binding its own (libnbd's tools start servers this way).
 *
 * <p>Java adopts an inherited socket only through {@link System#inheritedChannel()}, which looks at
 * descriptor 0: descriptor 3 is put there for that call (the JDK takes a duplicate of its own),
 * standard input is put back and descriptor 3 closed. Closing that channel makes the JDK put
 * /dev/null on descriptors 0, 1 and 2 (an inetd service's streams are its socket): duplicates of 1
 * and 2 are kept to put back as soon as the server has closed it.
 */
final class SocketActivation {
  /** The first inherited socket (systemd's SD_LISTEN_FDS_START). */
  static final int FIRST_DESCRIPTOR = 3;
  /** Set in a --fork child's environment: its standard input is the activated socket. */
  static final String CHILD_VARIABLE = "QCOW4J_SERVE_ACTIVATED";

  private final ServerSocketChannel channel;
  private final int savedOut;
  private final int savedErr;

  private SocketActivation(ServerSocketChannel channel, int savedOut, int savedErr) {
    this.channel = channel;
    this.savedOut = savedOut;
    this.savedErr = savedErr;
  }

  /**
   * check_socket_activation: LISTEN_FDS when LISTEN_PID (decimal) is {@code pid}, else 0 (also
   * when either is missing or not a number). QEMU then unsets both; a Java process cannot, and
   * clears them instead from the environment of the one process it starts (the --fork child).
   */
  static long count(Map<String, String> environment, long pid) {
    Long listenPid = parse(environment.get("LISTEN_PID"));
    if (listenPid == null || listenPid != pid) {
      return 0;
    }
    Long fds = parse(environment.get("LISTEN_FDS"));
    return fds == null ? 0 : fds;
  }

  /** LISTEN_FDS for this process, with each descriptor checked as QEMU checks it (exits 1 when one is not open). */
  static long check() {
    long count = count(System.getenv(), ProcessHandle.current().pid());
    for (long i = 0; i < count; i++) {
      int fd = (int) (FIRST_DESCRIPTOR + i);
      try {
        NativeCalls.descriptorFlags(fd);
      } catch (IOException e) {
        throw new CommandFailure("Socket activation failed: invalid file descriptor fd = " + fd + ": "
            + e.getMessage(), 1, e);
      }
    }
    return count;
  }

  /** qemu_strtoul's decimal number, the whole string; null when it is not one. */
  private static Long parse(String text) {
    if (text == null) {
      return null;
    }
    int start = 0;
    while (start < text.length() && Character.isWhitespace(text.charAt(start))) {
      start++;
    }
    if (start < text.length() && text.charAt(start) == '+') {
      start++;
    }
    if (start == text.length()) {
      return null;
    }
    long value = 0;
    for (int i = start; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c < '0' || c > '9' || value > (Long.MAX_VALUE - 9) / 10) {
        return null;
      }
      value = value * 10 + (c - '0');
    }
    return value;
  }

  /**
   * socket_activation_validate_opts: what qemu-nbd says of an option that names another place to
   * listen (or a device, or a label for the socket), or null.
   */
  static String refusal(String device, String socket, String bind, Integer port, String selinuxLabel, boolean list) {
    if (device != null) {
      return "NBD device can't be set when using socket activation";
    }
    if (socket != null) {
      return "Unix socket can't be set when using socket activation";
    }
    if (bind != null) {
      return "The interface can't be set when using socket activation";
    }
    if (port != null) {
      return "TCP port number can't be set when using socket activation";
    }
    if (selinuxLabel != null) {
      return "SELinux label can't be set when using socket activation";
    }
    if (list) {
      return "List mode is incompatible with socket activation";
    }
    return null;
  }

  /**
   * The socket at descriptor 3 as a channel (or, in a --fork child, the one at descriptor 0); QEMU's
   * "Failed to use socket activation: ..." when it is no listening stream socket.
   */
  static SocketActivation adopt(boolean forkChild) {
    try {
      // a --fork child's streams are the parent's pipe and /dev/null: nothing to put back
      int savedOut = forkChild ? -1 : NativeCalls.duplicate(1);
      int savedErr = forkChild ? -1 : NativeCalls.duplicate(2);
      Channel inherited;
      if (forkChild) {
        inherited = System.inheritedChannel();
      } else {
        requireSocket();
        int savedIn = NativeCalls.duplicate(0);
        NativeCalls.duplicateTo(FIRST_DESCRIPTOR, 0);
        try {
          inherited = System.inheritedChannel();
        } finally {
          NativeCalls.duplicateTo(savedIn, 0);
          NativeCalls.close(savedIn);
        }
        NativeCalls.close(FIRST_DESCRIPTOR);
      }
      if (!(inherited instanceof ServerSocketChannel channel)) {
        // qio_channel_socket_new_fd's getsockname fails on anything but a socket; the JDK's
        // channel for a connected or datagram socket cannot accept
        throw new CommandFailure(inherited == null ? NOT_A_SOCKET
            : "Failed to use socket activation: the socket is no listening stream socket", 1);
      }
      return new SocketActivation(channel, savedOut, savedErr);
    } catch (IOException e) {
      throw new CommandFailure("Failed to use socket activation: " + Failures.reason(e, null), 1, e);
    }
  }

  /**
   * The --fork parent's side: the child is started with the socket as its standard input, and
   * without LISTEN_PID and LISTEN_FDS (QEMU unsets them).
   */
  static void handToChild(ProcessBuilder child) throws IOException {
    requireSocket();
    NativeCalls.duplicateTo(FIRST_DESCRIPTOR, 0);
    NativeCalls.close(FIRST_DESCRIPTOR);
    child.redirectInput(ProcessBuilder.Redirect.INHERIT);
    child.environment().remove("LISTEN_PID");
    child.environment().remove("LISTEN_FDS");
    child.environment().put(CHILD_VARIABLE, "1");
  }

  /**
   * Refuses descriptor 3 unless it is a socket, before anything moves or closes it: where the
   * caller left it closed, the JVM has opened a file of its own there (its class archive, say)
   * before main, which QEMU's F_GETFD check cannot tell from a handed descriptor.
   */
  private static void requireSocket() {
    String target;
    try {
      target = java.nio.file.Files.readSymbolicLink(java.nio.file.Path.of("/proc/self/fd/" + FIRST_DESCRIPTOR)).toString();
    } catch (IOException | UnsupportedOperationException e) {
      target = "";
    }
    if (!target.startsWith("socket:")) {
      throw new CommandFailure(NOT_A_SOCKET, 1);
    }
  }

  private static final String NOT_A_SOCKET =
      "Failed to use socket activation: Unable to query remote socket address: Socket operation on non-socket";

  /** Whether this process is a --fork child whose parent handed it the activated socket. */
  static boolean isForkChild() {
    return System.getenv(CHILD_VARIABLE) != null && ServeDaemon.isChild();
  }

  ServerSocketChannel channel() {
    return channel;
  }

  /** Puts standard output and error back after the channel's close put /dev/null there. */
  void restoreStandardStreams() {
    if (savedOut < 0) {
      return;
    }
    try {
      NativeCalls.duplicateTo(savedOut, 1);
      NativeCalls.duplicateTo(savedErr, 2);
    } catch (IOException e) {
      // the streams stay where they are
    }
  }
}
