package io.qcow4j.qcow2;

import io.qcow4j.qcow2.format.L2Entry;

/**
 * A guest range that one layer maps uniformly: unallocated, zeros (maybe with a reserved host
 * range), host data contiguous from {@code hostOffset}, or one compressed cluster ({@code entry}).
 */
record Run(L2Entry.Kind kind, long guestOffset, long length, long hostOffset, long entry) {
  static final long NO_HOST = -1;

  long guestEnd() {
    return guestOffset + length;
  }
}
