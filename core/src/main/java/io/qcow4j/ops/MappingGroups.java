package io.qcow4j.ops;

import java.lang.foreign.Arena;

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

  private Group current;

  /** The group a chunk's mapping goes into: {@link #release} it once the chunk is done with it. */
  synchronized Group take() {
    if (current == null || current.taken == GROUP) {
      current = new Group();
    }
    current.taken++;
    return current;
  }

  /** A chunk is done with its mapping: the group's arena closes when it was the last of a full group. */
  synchronized void release(Group group) {
    group.released++;
    if (group.released == group.taken && (group.taken == GROUP || group != current)) {
      group.arena.close();
      if (group == current) {
        current = null;
      }
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
