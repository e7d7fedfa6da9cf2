package io.qcow4j.testing;

import io.qcow4j.storage.MemoryStorage;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.IntPredicate;

/**
 * Storage for crash tests: an in-memory file that records every change and every barrier, so that
 * the history can be replayed to give what a power cut at any recorded point could leave on disk
 * (every change a barrier made durable, plus an arbitrary subset of the others).
 *
 * <p>Thread-safe. Every change and every successful {@link #force} is one event, and the events of
 * all threads and handles form one total order: a change is recorded and applied to the content in
 * one atomic step, so the recorded order is the order in which the file's content changed. A cut
 * point {@code c} means power was lost before event {@code c} took effect.
 *
 * <p>A barrier makes durable only the changes whose call had returned before the barrier was
 * recorded, as fdatasync does: a change still in flight in another thread (recorded, but its
 * call not yet returned) stays volatile until a later barrier. {@link #whileInFlight} runs a hook
 * in that window, to widen it or to hold a change there. {@link #failAt} makes the file refuse every
 * change and barrier from an event on, as a device that lost power would.
 */
public final class FaultyStorage implements Storage {
  /** How the changes that are not durable at a cut survive it. */
  public enum Tearing {
    /** Each change survives whole or not at all. */
    NONE,
    /** Each write survives per 512-byte sector of the host file, each sector whole or not at all. */
    SECTORS
  }

  private enum Kind { WRITE, TRUNCATE, PUNCH, ZERO, ALLOCATE, BARRIER }

  /** Returned by a change's call at this event count; {@link #IN_FLIGHT} until the call returns. */
  private static final long IN_FLIGHT = Long.MAX_VALUE;

  /** One recorded change or barrier; {@code returnedAt} is guarded by the file's lock. */
  private static final class Event {
    final Kind kind;
    final long position;
    final long length;
    final byte[] data;
    long returnedAt = IN_FLIGHT;

    Event(Kind kind, long position, long length, byte[] data) {
      this.kind = kind;
      this.position = position;
      this.length = length;
      this.data = data;
    }
  }

  /** The host file itself, shared by every handle opened on it; its lock orders the events. */
  private static final class File {
    final MemoryStorage current;
    final byte[] initial;
    final List<Event> events = new ArrayList<>();
    long failAt = Long.MAX_VALUE;
    volatile Runnable inFlightHook = () -> { };

    File(String name, byte[] initial) {
      this.current = new MemoryStorage(name, initial, false);
      this.initial = initial.clone();
    }
  }

  private final File file;
  private final boolean readOnly;
  private volatile boolean closed;

  private FaultyStorage(File file, boolean readOnly) {
    this.file = file;
    this.readOnly = readOnly;
  }

  /** A new, empty file named {@code name}. */
  public FaultyStorage(String name) {
    this(new File(name, new byte[0]), false);
  }

  /** A file named {@code name} whose durable content is {@code content}. */
  public FaultyStorage(String name, byte[] content) {
    this(new File(name, content), false);
  }

  /** Another handle on the same file (the way a file outlives a closed descriptor). */
  public FaultyStorage reopen(boolean readOnlyHandle) {
    return new FaultyStorage(file, readOnlyHandle);
  }

  /** How many events (changes and barriers) were recorded: the cut points are 0 to this count. */
  public long eventCount() {
    synchronized (file) {
      return file.events.size();
    }
  }

  /** How many of the recorded events are barriers. */
  public long barrierCount() {
    synchronized (file) {
      return file.events.stream().filter(event -> event.kind == Kind.BARRIER).count();
    }
  }

  /** From event {@code eventIndex} on, every change and barrier fails with an IOException (power lost). */
  public void failAt(long eventIndex) {
    synchronized (file) {
      file.failAt = eventIndex;
    }
  }

  /**
   * Runs {@code hook} on the calling thread of every change of this file after the change took
   * effect and before its call returns, while it is in flight (a barrier recorded meanwhile does
   * not make it durable): {@code Thread::yield} widens the window, a latch holds a change there.
   */
  public void whileInFlight(Runnable hook) {
    file.inFlightHook = hook == null ? () -> { } : hook;
  }

  /** The file's content now, as the running program sees it. */
  public byte[] content() {
    return file.current.toByteArray();
  }

  /**
   * A replay of the history from the start; ask it for survivors at non-decreasing cut points.
   * Changes recorded after the replay starts are seen too. A replay is used by one thread.
   */
  public Replay replay() {
    return new Replay();
  }

  /** Walks the recorded history forward, keeping the durable state of the longest durable prefix. */
  public final class Replay {
    private final MemoryStorage durable;
    /** Events before this index are durable at every cut point asked from now on, and applied to {@code durable}. */
    private int applied;
    /** The last cut point asked for. */
    private long lastCut;

    private Replay() {
      durable = new MemoryStorage(file.current.name() + " (durable)", file.initial, false);
    }

    /**
     * What a power cut just before event {@code cutPoint} could leave: every change the last
     * barrier before the cut made durable, then each other change before the cut kept or lost as
     * {@code random} decides, each with probability {@code keepProbability}, whole or torn as
     * {@code tearing} says; everything applied in the recorded order.
     */
    public byte[] survivorAt(long cutPoint, Random random, double keepProbability, Tearing tearing) throws IOException {
      return survivor(cutPoint, (event, index) -> {
        if (event.kind == Kind.WRITE && tearing == Tearing.SECTORS) {
          return tornPieces(event, random, keepProbability);
        }
        return random.nextDouble() < keepProbability ? List.of(event) : List.of();
      });
    }

    /**
     * What a power cut just before event {@code cutPoint} leaves when exactly the changes not
     * durable at the cut that {@code keep} accepts survive; it is given their index among those
     * changes, from 0 to {@link #changesSinceBarrier} - 1, in the recorded order.
     */
    public byte[] survivorAt(long cutPoint, IntPredicate keep) throws IOException {
      return survivor(cutPoint, (event, index) -> keep.test(index) ? List.of(event) : List.of());
    }

    /**
     * How many changes before {@code cutPoint} are not durable there: those after the last barrier
     * before the cut, and those still in flight when that barrier was recorded.
     */
    public int changesSinceBarrier(long cutPoint) {
      History history = history(cutPoint);
      int count = 0;
      for (int index = 0; index < history.events.size(); index++) {
        if (history.events.get(index).kind != Kind.BARRIER && !history.durable(index)) {
          count++;
        }
      }
      return count;
    }

    /** The index of the last barrier before {@code cutPoint}, or -1. */
    public long lastBarrierBefore(long cutPoint) {
      synchronized (file) {
        for (int index = (int) Math.min(cutPoint, file.events.size()) - 1; index >= 0; index--) {
          if (file.events.get(index).kind == Kind.BARRIER) {
            return index;
          }
        }
        return -1;
      }
    }

    private interface Selection {
      List<Event> survivingPart(Event event, int index);
    }

    private byte[] survivor(long cutPoint, Selection selection) throws IOException {
      if (cutPoint < lastCut) {
        throw new IllegalArgumentException("cut point " + cutPoint + " is before the last one asked, " + lastCut);
      }
      History history = history(cutPoint);
      lastCut = cutPoint;
      int prefix = history.durablePrefix();
      for (int index = applied; index < prefix; index++) {
        apply(durable, history.events.get(index));
      }
      applied = Math.max(applied, prefix);
      MemoryStorage survivor = new MemoryStorage("survivor", durable.toByteArray(), false);
      int pending = 0;
      for (int index = applied; index < history.events.size(); index++) {
        Event event = history.events.get(index);
        if (event.kind == Kind.BARRIER) {
          continue;
        }
        if (history.durable(index)) {
          apply(survivor, event);
        } else {
          for (Event part : selection.survivingPart(event, pending++)) {
            apply(survivor, part);
          }
        }
      }
      return survivor.toByteArray();
    }

    private History history(long cutPoint) {
      synchronized (file) {
        if (cutPoint < 0 || cutPoint > file.events.size()) {
          throw new IllegalArgumentException("cut point " + cutPoint + " outside 0.." + file.events.size());
        }
        List<Event> events = List.copyOf(file.events.subList(0, (int) cutPoint));
        long[] returnedAt = new long[events.size()];
        int lastBarrier = -1;
        for (int index = 0; index < events.size(); index++) {
          returnedAt[index] = events.get(index).returnedAt;
          if (events.get(index).kind == Kind.BARRIER) {
            lastBarrier = index;
          }
        }
        return new History(events, returnedAt, lastBarrier);
      }
    }
  }

  /** The events before a cut, when each call returned, and the last barrier among them. */
  private record History(List<Event> events, long[] returnedAt, int lastBarrier) {
    /** Whether the change at {@code index} had returned before the last barrier was recorded. */
    boolean durable(int index) {
      return index < lastBarrier && returnedAt[index] <= lastBarrier;
    }

    /** The length of the longest prefix of events that are all durable (or barriers). */
    int durablePrefix() {
      for (int index = 0; index < lastBarrier; index++) {
        if (events.get(index).kind != Kind.BARRIER && !durable(index)) {
          return index;
        }
      }
      return Math.max(0, lastBarrier + 1);
    }
  }

  private static void apply(MemoryStorage target, Event event) throws IOException {
    switch (event.kind) {
      case WRITE -> target.write(ByteBuffer.wrap(event.data), event.position);
      case TRUNCATE -> target.truncate(event.length);
      case PUNCH -> target.punchHole(event.position, event.length);
      case ZERO -> target.zeroRange(event.position, event.length);
      case ALLOCATE -> target.allocate(event.position, event.length);
      case BARRIER -> { }
    }
  }

  /** The pieces of a write, one per 512-byte sector of the file it touches, that survive. */
  private static List<Event> tornPieces(Event event, Random random, double keepProbability) {
    List<Event> kept = new ArrayList<>();
    long start = event.position;
    long end = start + event.data.length;
    long cursor = start;
    while (cursor < end) {
      long sectorEnd = Math.min(end, (cursor | 511) + 1);
      if (random.nextDouble() < keepProbability) {
        int from = (int) (cursor - start);
        byte[] piece = Arrays.copyOfRange(event.data, from, from + (int) (sectorEnd - cursor));
        kept.add(new Event(Kind.WRITE, cursor, piece.length, piece));
      }
      cursor = sectorEnd;
    }
    return kept;
  }

  // ---------------------------------------------------------------- Storage

  @Override
  public String name() {
    return file.current.name();
  }

  @Override
  public boolean isReadOnly() {
    return readOnly;
  }

  @Override
  public long size() throws IOException {
    ensureOpen();
    return file.current.size();
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    ensureOpen();
    return file.current.read(dst, position);
  }

  /** The one step that changes the file: record the change and apply it, atomically. */
  private interface Change {
    void applyTo(MemoryStorage current) throws IOException;
  }

  private void change(Event event, Change change) throws IOException {
    synchronized (file) {
      admit(event);
      change.applyTo(file.current);
      file.events.add(event);
    }
    try {
      file.inFlightHook.run();
    } finally {
      synchronized (file) {
        event.returnedAt = file.events.size();
      }
    }
  }

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    byte[] data = new byte[src.remaining()];
    src.duplicate().get(data);
    change(new Event(Kind.WRITE, position, data.length, data), current -> current.write(src, position));
  }

  @Override
  public void truncate(long newSize) throws IOException {
    change(new Event(Kind.TRUNCATE, 0, newSize, null), current -> current.truncate(newSize));
  }

  @Override
  public void force(boolean metadata) throws IOException {
    synchronized (file) {
      Event barrier = new Event(Kind.BARRIER, 0, 0, null);
      admit(barrier);
      file.events.add(barrier);
      barrier.returnedAt = file.events.size();
    }
  }

  @Override
  public void punchHole(long position, long length) throws IOException {
    change(new Event(Kind.PUNCH, position, length, null), current -> current.punchHole(position, length));
  }

  @Override
  public void zeroRange(long position, long length) throws IOException {
    change(new Event(Kind.ZERO, position, length, null), current -> current.zeroRange(position, length));
  }

  @Override
  public void allocate(long position, long length) throws IOException {
    change(new Event(Kind.ALLOCATE, position, length, null), current -> current.allocate(position, length));
  }

  @Override
  public void close() {
    closed = true;
  }

  /** Refuses a change or barrier on a closed or read-only handle, or once power is lost; caller holds the file's lock. */
  private void admit(Event event) throws IOException {
    ensureOpen();
    if (event.kind != Kind.BARRIER && readOnly) {
      throw new IOException(name() + ": storage is read-only");
    }
    if (file.events.size() >= file.failAt) {
      throw new IOException(name() + ": power lost at event " + file.failAt + " (" + event.kind + " refused)");
    }
  }

  private void ensureOpen() throws IOException {
    if (closed) {
      throw new IOException(name() + ": storage is closed");
    }
  }
}
