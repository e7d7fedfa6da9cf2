package io.qcow4j.storage;

/**
 * blkdebug's breakpoints (QEMU's bdrv_debug_breakpoint and friends, which qemu-io's break,
 * remove_break, resume and wait_break use): a request that reaches a breakpoint's event is
 * suspended, its thread held, until resumed by its tag.
 */
public interface DebugBreakpoints {
  /** Hears of requests suspended and resumed (blkdebug prints both). */
  interface Listener {
    /** A request reached a breakpoint tagged {@code tag} and is suspended. */
    void suspended(String tag);

    /** A request suspended under {@code tag} is about to go on. */
    void resuming(String tag);
  }

  /** Sets a breakpoint on {@code event} (a BlkdebugEvent name); false when there is no such event. */
  boolean setBreakpoint(String event, String tag);

  /**
   * Removes the breakpoints tagged {@code tag} and resumes its suspended requests; false when no
   * breakpoint was removed (requests resumed or not, as QEMU answers).
   */
  boolean removeBreakpoint(String tag);

  /** Resumes the latest request suspended under {@code tag}; false when there is none. */
  boolean resume(String tag);

  /** Whether a request is suspended under {@code tag}. */
  boolean isSuspended(String tag);

  /** Resumes every suspended request and drops every breakpoint (the node is going away). */
  void releaseAll();

  /** Where suspensions and resumptions are told (null: nowhere). */
  void setListener(Listener listener);
}
