package io.qcow4j.internal.storage;

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
}
