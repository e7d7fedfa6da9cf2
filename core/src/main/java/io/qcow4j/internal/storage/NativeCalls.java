package io.qcow4j.internal.storage;

import java.io.IOException;

/**
 * Start-up help for the command line: the first native call of a process (an image's open takes
 * its locks through one) costs tens of milliseconds of cold linker code, which a thread of its own
 * can run while the command reads its arguments and opens its files.
 */
public final class NativeCalls {
  private static volatile boolean started;

  private NativeCalls() {}

  /**
   * Links the native calls on a daemon thread (once per process); whoever needs a native call
   * before it is done waits for it rather than linking again. Nothing is written or locked.
   */
  public static void prepareInBackground() {
    if (started) {
      return;
    }
    started = true;
    Thread thread = new Thread(NativeCalls::prepare, "qcow4j native calls");
    thread.setDaemon(true);
    thread.start();
  }

  private static void prepare() {
    try {
      NativeFile.Syscall.ready();
    } catch (Throwable e) {
      // the first real call meets the same failure and handles it
    }
  }

  /*
   * Calls on the process's own descriptor numbers, for qemu-nbd's socket activation (the listening
   * socket a caller leaves at descriptor 3): each throws an IOException whose message is strerror's
   * text of the call's errno (QEMU prints g_strerror's words), again after EINTR.
   */

  /** fcntl(fd, F_GETFD): the descriptor's flags; fails (EBADF) when {@code fd} is not open. */
  public static int descriptorFlags(int fd) throws IOException {
    return (int) NativeFile.descriptorCall("F_GETFD", fd, 0);
  }

  /** fcntl(fd, F_DUPFD_CLOEXEC, 0): a new descriptor, closed on exec, for what {@code fd} is. */
  public static int duplicate(int fd) throws IOException {
    return (int) NativeFile.descriptorCall("F_DUPFD_CLOEXEC", fd, 0);
  }

  /** dup3(from, to, 0): {@code to} becomes what {@code from} is (and stays open across exec). */
  public static void duplicateTo(int from, int to) throws IOException {
    NativeFile.descriptorCall("dup3", from, to);
  }

  /** close(fd). */
  public static void close(int fd) throws IOException {
    NativeFile.descriptorCall("close", fd, 0);
  }
}
