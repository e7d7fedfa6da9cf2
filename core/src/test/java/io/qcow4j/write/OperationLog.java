package io.qcow4j.write;

import io.qcow4j.testing.FaultyStorage;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What concurrent threads did to one image, thread-safe: each operation with the global sequence
 * numbers taken just before it started and just after it returned, and the storage event counts at
 * the same moments, so that the model can tell which operations had returned before a force began
 * and which events a power cut could have kept.
 */
final class OperationLog {
  /** What an operation makes its sectors read as. */
  enum Kind {
    /** Tagged data of the operation's own sequence number. */
    WRITE(true, false),
    /** Tagged data, stored as a compressed cluster. */
    COMPRESSED(true, false),
    WRITE_ZEROES(false, true),
    WRITE_ZEROES_UNMAP(false, true),
    DISCARD(false, true),
    /** Reserves space; the content does not change. */
    ALLOCATE(false, false);

    final boolean data;
    final boolean zeros;

    Kind(boolean data, boolean zeros) {
      this.data = data;
      this.zeros = zeros;
    }
  }

  /**
   * One operation on [offset, offset + length): its data carries {@code startSequence}; it began
   * after storage event {@code startEvent} - 1 and returned before event {@code endEvent}.
   */
  record Operation(Kind kind, int thread, long offset, long length, long startSequence, long endSequence,
      long startEvent, long endEvent) {
    @Override
    public String toString() {
      return String.format("%s %d +%d by thread %d [sequence %d..%d, events %d..%d)", kind, offset, length, thread,
          startSequence, endSequence, startEvent, endEvent);
    }
  }

  /** A completed force(): begun at {@code startSequence}, returned before storage event {@code endEvent}. */
  record Force(int thread, long startSequence, long endSequence, long endEvent) {
    @Override
    public String toString() {
      return String.format("force by thread %d [sequence %d..%d, returned before event %d]", thread, startSequence,
          endSequence, endEvent);
    }
  }

  /** A started operation, to be finished with {@link #finish}. */
  record Started(Kind kind, int thread, long offset, long length, long startSequence, long startEvent) {}

  private static final int MAX_DESCRIBED = 400;

  private final FaultyStorage storage;
  private final AtomicLong sequence;
  private final List<Operation> operations = new ArrayList<>();
  private final List<Force> forces = new ArrayList<>();

  /** A log over {@code storage} (null when no crash is replayed: event counts are then 0). */
  OperationLog(FaultyStorage storage, long firstSequence) {
    this.storage = storage;
    this.sequence = new AtomicLong(firstSequence);
  }

  private long events() {
    return storage == null ? 0 : storage.eventCount();
  }

  /** Call just before the operation; its data must carry the returned start's sequence number. */
  Started start(Kind kind, int thread, long offset, long length) {
    long startEvent = events();
    return new Started(kind, thread, offset, length, sequence.incrementAndGet(), startEvent);
  }

  /** Call just after the operation returned. */
  void finish(Started started) {
    long endSequence = sequence.incrementAndGet();
    Operation operation = new Operation(started.kind(), started.thread(), started.offset(), started.length(),
        started.startSequence(), endSequence, started.startEvent(), events());
    synchronized (this) {
      operations.add(operation);
    }
  }

  /** Call just before force(); pass the result to {@link #forced} once it returned. */
  long beforeForce() {
    return sequence.incrementAndGet();
  }

  void forced(int thread, long startSequence) {
    long endEvent = events();
    Force force = new Force(thread, startSequence, sequence.incrementAndGet(), endEvent);
    synchronized (this) {
      forces.add(force);
    }
  }

  synchronized List<Operation> operations() {
    return List.copyOf(operations);
  }

  synchronized List<Force> forces() {
    return List.copyOf(forces);
  }

  /** The operations and forces as one line each, in start order, for failure messages (the first 400). */
  synchronized List<String> describe() {
    List<Object> all = new ArrayList<>(operations);
    all.addAll(forces);
    all.sort(java.util.Comparator.comparingLong(entry -> entry instanceof Operation operation
        ? operation.startSequence() : ((Force) entry).startSequence()));
    List<String> lines = new ArrayList<>();
    for (Object entry : all) {
      if (lines.size() == MAX_DESCRIBED) {
        lines.add("... " + (all.size() - MAX_DESCRIBED) + " more");
        break;
      }
      lines.add(entry.toString());
    }
    return lines;
  }
}
