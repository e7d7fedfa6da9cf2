package io.qcow4j.ops;

import java.lang.foreign.Arena;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * The shared arenas that hold the source mappings of a copy's chunks in flight, one for each group
 * of {@link #GROUP} chunks, closed once the group's last chunk is done: closing a shared arena
 * stops every thread of the process for a handshake, so once per group rather than once per chunk
 * (a 4 GiB convert has 2,048 chunks). The mappings of a group stay mapped until then, a few chunks
 * more than are in flight. Thread-safe.
 */
final class MappingGroups {
  /** Chunks per arena. */
  static final int GROUP = 8;

  /** The arena of up to {@link #GROUP} chunks' mappings. */
  static final class Group {
    private final Arena arena = Arena.ofShared();
    private int taken;
    private int released;

    /** The arena to map into; it stays open until the group is released. */
    Arena arena() {
      return arena;
    }
  }

  /** The close of a full group's arena, handed to the closer. */
  record Closing(Arena arena) implements Runnable {
    @Override
    public void run() {
      arena.close();
    }
  }

  private Group current;
  /** Where full groups' arenas close (the caller's thread unless {@link #closeOn}). */
  private volatile Executor closer = Runnable::run;

  /**
   * Closes full groups' arenas on {@code executor} rather than on the thread that releases their
   * last chunk (the unmapping and the handshake then cost that thread nothing); a {@link Closing}
   * the executor never ran must still be run.
   */
  void closeOn(Executor executor) {
    closer = executor;
  }

  /** The group a chunk's mapping goes into: {@link #release} it once the chunk is done with it. */
  synchronized Group take() {
    if (current == null || current.taken == GROUP) {
      current = new Group();
    }
    current.taken++;
    return current;
  }

  /** A chunk is done with its mapping: the group's arena closes when it was the last of a full group. */
  void release(Group group) {
    synchronized (this) {
      group.released++;
      if (group.released != group.taken || (group.taken != GROUP && group == current)) {
        return;
      }
      if (group == current) {
        current = null;
      }
    }
    Closing closing = new Closing(group.arena);
    try {
      closer.execute(closing);
    } catch (RejectedExecutionException e) {
      closing.run();
    }
  }

  /** At the end of a copy: closes the last group, when its chunks are all done. */
  synchronized void close() {
    if (current != null && current.released == current.taken) {
      current.arena.close();
      current = null;
    }
  }
}
