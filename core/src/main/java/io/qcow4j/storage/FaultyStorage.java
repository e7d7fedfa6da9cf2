package io.qcow4j.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Storage for crash tests: an in-memory file that records every change and every barrier, so that
 * the history can be replayed to give what a power cut at any recorded point could leave on disk
 * (everything before the last barrier, plus an arbitrary subset of the changes since).
 *
 * <p>Every change and every successful {@link #force} is one event; a cut point {@code c} means
 * power was lost before event {@code c} took effect. {@link #failAt} makes the file refuse every
 * change and barrier from an event on, as a device that lost power would.
 */
public final class FaultyStorage implements Storage {
  /** How the changes after the last barrier survive a power cut. */
  public enum Tearing {
    /** Each change survives whole or not at all. */
    NONE,
    /** Each write survives per 512-byte sector of the host file, each sector whole or not at all. */
    SECTORS
  }

  private enum Kind { WRITE, TRUNCATE, PUNCH, ZERO, ALLOCATE, BARRIER }

  private record Event(Kind kind, long position, long length, byte[] data) {}

  /** The host file itself, shared by every handle opened on it. */
  private static final class File {
    final MemoryStorage current;
    final byte[] initial;
    final List<Event> events = new ArrayList<>();
    long failAt = Long.MAX_VALUE;

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
      return file.events.stream().filter(event -> event.kind() == Kind.BARRIER).count();
    }
  }

  /** From event {@code eventIndex} on, every change and barrier fails with an IOException (power lost). */
  public void failAt(long eventIndex) {
    synchronized (file) {
      file.failAt = eventIndex;
    }
  }

  /** The file's content now, as the running program sees it. */
  public byte[] content() {
    return file.current.toByteArray();
  }

  /**
   * A replay of the history from the start; ask it for survivors at non-decreasing cut points.
   * Changes recorded after the replay starts are seen too.
   */
  public Replay replay() {
    return new Replay();
  }

  /** Walks the recorded history forward, keeping the durable state at the latest barrier passed. */
  public final class Replay {
    private final MemoryStorage durable;
    /** Events before this index are applied to {@code durable}. */
    private int applied;

    private Replay() {
      durable = new MemoryStorage(file.current.name() + " (durable)", file.initial, false);
    }

    /**
     * What a power cut just before event {@code cutPoint} could leave: every event before the last
     * barrier ahead of the cut, then each later change kept or lost as {@code random} decides, each
     * with probability {@code keepProbability}, whole or torn as {@code tearing} says.
     */
    public byte[] survivorAt(long cutPoint, Random random, double keepProbability, Tearing tearing) throws IOException {
      return survivor(cutPoint, (event, index) -> {
        if (event.kind() == Kind.WRITE && tearing == Tearing.SECTORS) {
          return applyTorn(event, random, keepProbability);
        }
        return random.nextDouble() < keepProbability ? List.of(event) : List.of();
      });
    }

    /**
     * What a power cut just before event {@code cutPoint} leaves when exactly the changes since the
     * last barrier that {@code keep} accepts survive; it is given their index among those changes,
     * from 0 to {@link #changesSinceBarrier} - 1.
     */
    public byte[] survivorAt(long cutPoint, java.util.function.IntPredicate keep) throws IOException {
      return survivor(cutPoint, (event, index) -> keep.test(index) ? List.of(event) : List.of());
    }

    /** How many changes lie between the last barrier before {@code cutPoint} and the cut. */
    public int changesSinceBarrier(long cutPoint) {
      return (int) (Math.min(cutPoint, eventCount()) - lastBarrierBefore(cutPoint) - 1);
    }

    private interface Selection {
      List<Event> survivingPart(Event event, int index);
    }

    private byte[] survivor(long cutPoint, Selection selection) throws IOException {
      List<Event> events;
      synchronized (file) {
        if (cutPoint < applied || cutPoint > file.events.size()) {
          throw new IllegalArgumentException("cut point " + cutPoint + " outside " + applied + ".." + file.events.size());
        }
        events = List.copyOf(file.events.subList(0, (int) cutPoint));
      }
      int lastBarrier = -1;
      for (int index = events.size() - 1; index >= applied; index--) {
        if (events.get(index).kind() == Kind.BARRIER) {
          lastBarrier = index;
          break;
        }
      }
      for (int index = applied; index <= lastBarrier; index++) {
        apply(durable, events.get(index));
      }
      applied = Math.max(applied, lastBarrier + 1);
      MemoryStorage survivor = new MemoryStorage("survivor", durable.toByteArray(), false);
      for (int index = applied; index < events.size(); index++) {
        for (Event part : selection.survivingPart(events.get(index), index - applied)) {
          apply(survivor, part);
        }
      }
      return survivor.toByteArray();
    }

    /** The index of the last barrier before {@code cutPoint}, or -1. */
    public long lastBarrierBefore(long cutPoint) {
      synchronized (file) {
        for (int index = (int) Math.min(cutPoint, file.events.size()) - 1; index >= 0; index--) {
          if (file.events.get(index).kind() == Kind.BARRIER) {
            return index;
          }
        }
        return -1;
      }
    }
  }

  private static void apply(MemoryStorage target, Event event) throws IOException {
    switch (event.kind()) {
      case WRITE -> target.write(ByteBuffer.wrap(event.data()), event.position());
      case TRUNCATE -> target.truncate(event.length());
      case PUNCH -> target.punchHole(event.position(), event.length());
      case ZERO -> target.zeroRange(event.position(), event.length());
      case ALLOCATE -> target.allocate(event.position(), event.length());
      case BARRIER -> { }
    }
  }

  /** The pieces of a write, one per 512-byte sector of the file it touches, that survive. */
  private static List<Event> applyTorn(Event event, Random random, double keepProbability) {
    List<Event> kept = new ArrayList<>();
    long start = event.position();
    long end = start + event.data().length;
    long cursor = start;
    while (cursor < end) {
      long sectorEnd = Math.min(end, (cursor | 511) + 1);
      if (random.nextDouble() < keepProbability) {
        int from = (int) (cursor - start);
        byte[] piece = java.util.Arrays.copyOfRange(event.data(), from, from + (int) (sectorEnd - cursor));
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

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    byte[] data = new byte[src.remaining()];
    src.duplicate().get(data);
    synchronized (file) {
      record(new Event(Kind.WRITE, position, data.length, data));
      file.current.write(src, position);
    }
  }

  @Override
  public void truncate(long newSize) throws IOException {
    synchronized (file) {
      record(new Event(Kind.TRUNCATE, 0, newSize, null));
      file.current.truncate(newSize);
    }
  }

  @Override
  public void force(boolean metadata) throws IOException {
    synchronized (file) {
      record(new Event(Kind.BARRIER, 0, 0, null));
    }
  }

  @Override
  public void punchHole(long position, long length) throws IOException {
    synchronized (file) {
      record(new Event(Kind.PUNCH, position, length, null));
      file.current.punchHole(position, length);
    }
  }

  @Override
  public void zeroRange(long position, long length) throws IOException {
    synchronized (file) {
      record(new Event(Kind.ZERO, position, length, null));
      file.current.zeroRange(position, length);
    }
  }

  @Override
  public void allocate(long position, long length) throws IOException {
    synchronized (file) {
      record(new Event(Kind.ALLOCATE, position, length, null));
      file.current.allocate(position, length);
    }
  }

  @Override
  public void close() {
    closed = true;
  }

  /** Records a change or barrier, or refuses it once power is lost; caller holds the file's lock. */
  private void record(Event event) throws IOException {
    ensureOpen();
    if (event.kind() != Kind.BARRIER && readOnly) {
      throw new IOException(name() + ": storage is read-only");
    }
    if (file.events.size() >= file.failAt) {
      throw new IOException(name() + ": power lost at event " + file.failAt + " (" + event.kind() + " refused)");
    }
    file.events.add(event);
  }

  private void ensureOpen() throws IOException {
    if (closed) {
      throw new IOException(name() + ": storage is closed");
    }
  }
}
