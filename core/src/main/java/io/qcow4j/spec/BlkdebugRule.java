package io.qcow4j.spec;

/**
 * One blkdebug rule, from its config file or its inject-error.N / set-state.N options: when
 * {@code event} happens in state {@code state} (0: any), an inject-error rule arms an error
 * ({@code errno}) for the next request that touches byte {@code offset} (-1: any) of the kinds
 * {@code ioTypes} selects, once or every time, at once or after a yield; a set-state rule moves to
 * {@code newState}.
 */
public record BlkdebugRule(Action action, String event, long state, int errno, long offset, boolean once,
    boolean immediately, int ioTypes, long newState) {

  /** What a rule does when its event happens. */
  public enum Action {
    /** Arms an error for the next matching request. */
    INJECT_ERROR,
    /** Moves blkdebug to another state. */
    SET_STATE
  }

  /** The kinds of requests (QEMU's BlkdebugIOType), as bits of {@link #ioTypes}. */
  public static final int READ = 1;
  /** A write. */
  public static final int WRITE = 2;
  /** A write of zeros. */
  public static final int WRITE_ZEROES = 4;
  /** A discard. */
  public static final int DISCARD = 8;
  /** A flush. */
  public static final int FLUSH = 16;
  /** A block status query. */
  public static final int BLOCK_STATUS = 32;
  /** The default of an inject-error rule: every kind but block status. */
  public static final int DEFAULT_IO_TYPES = READ | WRITE | WRITE_ZEROES | DISCARD | FLUSH;
}
