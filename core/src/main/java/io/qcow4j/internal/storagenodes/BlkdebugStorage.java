package io.qcow4j.internal.storagenodes;

import io.qcow4j.spec.BlkdebugRule;
import io.qcow4j.spec.BlkdebugRules;
import io.qcow4j.storage.DebugBreakpoints;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.FileSystemException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * QEMU's blkdebug over another storage: its rules are armed by the events the layer above reports
 * ({@link #debugEvent}) in the state they name, an armed inject-error rule fails the next request
 * of its kinds that touches its offset with its errno (once, or until other rules are armed), and
 * set-state rules move the state. Requests pass through otherwise.
 */
public final class BlkdebugStorage implements Storage, DebugBreakpoints {
  private final Storage image;
  private final List<BlkdebugRule> rules;
  private final BlkdebugLimits limits;
  /** Writes widened to blkdebug's align, with their read-modify-write events; null without align. */
  private final AlignedWrites aligned;
  /** Rules armed by the last event that armed any, the first one checked first (QEMU's active_rules). */
  private final Deque<BlkdebugRule> armed = new ArrayDeque<>();
  private long state = 1;
  /** Breakpoints, the latest first (QEMU inserts them at the head of their event's rules). */
  private final List<Breakpoint> breakpoints = new ArrayList<>();
  /** Suspended requests, the latest first (QEMU's suspended_reqs). */
  private final Deque<Suspended> suspended = new ArrayDeque<>();
  private volatile DebugBreakpoints.Listener listener;

  private record Breakpoint(String event, String tag) {}

  /** A request held at a breakpoint until its latch opens. */
  private record Suspended(String tag, java.util.concurrent.CountDownLatch latch) {}

  /**
   * Writes started and the count a flush last made durable (QEMU's write_gen and flushed_gen): a
   * flush with nothing written since the last one that succeeded neither raises flush_to_disk nor
   * reaches the rules or the file.
   */
  private final java.util.concurrent.atomic.AtomicLong writeGeneration = new java.util.concurrent.atomic.AtomicLong();
  private volatile long flushedGeneration;

  /** blkdebug over {@code image} (closed with it) with {@code rules} in the order QEMU adds them. */
  public BlkdebugStorage(Storage image, List<BlkdebugRule> rules) {
    this(image, rules, BlkdebugLimits.NONE);
  }

  /**
   * blkdebug over {@code image} (closed with it) with {@code rules} in the order QEMU adds them,
   * writes of zeroes and discards cut by {@code limits} as QEMU's block layer cuts them.
   */
  public BlkdebugStorage(Storage image, List<BlkdebugRule> rules, BlkdebugLimits limits) {
    this.image = image;
    this.limits = limits;
    this.aligned = limits.align() <= 1 ? null : new AlignedWrites(limits.align(), new AlignedWrites.Node() {
      @Override
      public void event(String name) {
        debugEvent(name);
      }

      @Override
      public void readBlocks(ByteBuffer dst, long position) throws IOException {
        check(position, dst.remaining(), BlkdebugRule.READ);
        image.readOrZero(dst, position);
      }

      @Override
      public void writeBlocks(ByteBuffer src, long position) throws IOException {
        check(position, src.remaining(), BlkdebugRule.WRITE);
        image.write(src, position);
      }
    });
    // QEMU inserts each rule at the head of its event's list
    this.rules = new ArrayList<>(rules).reversed();
    // blkdebug_open raises the "none" event on its own node once its rules are in
    processEvent("none");
  }

  @Override
  public void debugEvent(String event) {
    List<Suspended> held = processEvent(event);
    // the request waits here, outside the lock, until resumed (QEMU's coroutine yields)
    for (Suspended request : held) {
      boolean interrupted = false;
      while (true) {
        try {
          request.latch().await();
          break;
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
    image.debugEvent(event);
  }

  /**
   * QEMU's blkdebug_debug_event: arms the inject-error rules of {@code event}, applies its
   * set-state rules and suspends the request at its breakpoints; returns the suspensions to wait on.
   */
  private synchronized List<Suspended> processEvent(String event) {
    List<Suspended> held = List.of();
    for (java.util.Iterator<Breakpoint> it = breakpoints.iterator(); it.hasNext(); ) {
      Breakpoint breakpoint = it.next();
      if (breakpoint.event().equals(event)) {
        it.remove();
        Suspended request = new Suspended(breakpoint.tag(), new java.util.concurrent.CountDownLatch(1));
        suspended.addFirst(request);
        if (held.isEmpty()) {
          held = new ArrayList<>();
        }
        held.add(request);
        DebugBreakpoints.Listener heard = listener;
        if (heard != null) {
          heard.suspended(breakpoint.tag());
        }
      }
    }
    long newState = state;
    boolean injected = false;
    for (BlkdebugRule rule : rules) {
      if (!rule.event().equals(event) || (rule.state() != 0 && rule.state() != state)) {
        continue;
      }
      if (rule.action() == BlkdebugRule.Action.SET_STATE) {
        newState = rule.newState();
      } else {
        if (!injected) {
          armed.clear();
          injected = true;
        }
        armed.addFirst(rule);
      }
    }
    state = newState;
    return held;
  }

  @Override
  public synchronized boolean setBreakpoint(String event, String tag) {
    if (!BlkdebugRules.EVENTS.contains(event)) {
      return false;
    }
    breakpoints.addFirst(new Breakpoint(event, tag));
    return true;
  }

  @Override
  public synchronized boolean removeBreakpoint(String tag) {
    boolean found = breakpoints.removeIf(breakpoint -> breakpoint.tag().equals(tag));
    // as blkdebug_debug_remove_breakpoint: resuming the suspended requests alone does not count
    // (its resume_req_by_tag, resuming them all, ends with -ENOENT)
    while (resume(tag)) {
      // every one of them
    }
    return found;
  }

  @Override
  public synchronized boolean resume(String tag) {
    for (Suspended request : suspended) {
      if (request.tag().equals(tag)) {
        suspended.remove(request);
        DebugBreakpoints.Listener heard = listener;
        if (heard != null) {
          heard.resuming(tag);
        }
        request.latch().countDown();
        return true;
      }
    }
    return false;
  }

  @Override
  public synchronized boolean isSuspended(String tag) {
    return suspended.stream().anyMatch(request -> request.tag().equals(tag));
  }

  @Override
  public synchronized void releaseAll() {
    breakpoints.clear();
    for (Suspended request : suspended) {
      request.latch().countDown();
    }
    suspended.clear();
  }

  @Override
  public void setListener(DebugBreakpoints.Listener listener) {
    this.listener = listener;
  }

  @Override
  public DebugBreakpoints debugBreakpoints() {
    return this;
  }

  /**
   * QEMU's blkdebug_co_block_status: fails with an armed rule of iotype block-status that covers
   * {@code length} bytes at {@code offset}; the answer itself is the image's.
   */
  public void checkBlockStatus(long offset, long length) throws IOException {
    check(offset, length, BlkdebugRule.BLOCK_STATUS);
  }

  @Override
  public io.qcow4j.storage.StorageStatus status(long position, long maxLength) throws IOException {
    check(position, maxLength, BlkdebugRule.BLOCK_STATUS);
    return image.status(position, maxLength);
  }

  /** QEMU's rule_check: fails the request when an armed rule of its kind covers it. */
  private void check(long offset, long bytes, int ioType) throws IOException {
    BlkdebugRule hit = null;
    synchronized (this) {
      for (BlkdebugRule rule : armed) {
        boolean covers = rule.offset() == -1 || (bytes > 0 && rule.offset() >= offset && rule.offset() < offset + bytes);
        if (covers && (rule.ioTypes() & ioType) != 0) {
          hit = rule;
          break;
        }
      }
      if (hit == null || hit.errno() == 0) {
        return;
      }
      if (hit.once()) {
        armed.remove(hit);
        rules.remove(hit);
      }
    }
    throw new FileSystemException(image.name(), null, Errno.text(hit.errno()));
  }

  @Override
  public String name() {
    return image.name();
  }

  @Override
  public boolean isReadOnly() {
    return image.isReadOnly();
  }

  @Override
  public long size() throws IOException {
    return image.size();
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    check(position, dst.remaining(), BlkdebugRule.READ);
    return image.read(dst, position);
  }

  @Override
  public long read(ByteBuffer[] dsts, long position) throws IOException {
    long wanted = 0;
    for (ByteBuffer dst : dsts) {
      wanted += dst.remaining();
    }
    check(position, wanted, BlkdebugRule.READ);
    return image.read(dsts, position);
  }

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    writeGeneration.incrementAndGet();
    if (aligned != null) {
      aligned.write(src, position);
      return;
    }
    check(position, src.remaining(), BlkdebugRule.WRITE);
    image.write(src, position);
  }

  @Override
  public void write(ByteBuffer[] srcs, long position) throws IOException {
    long wanted = 0;
    for (ByteBuffer src : srcs) {
      wanted += src.remaining();
    }
    writeGeneration.incrementAndGet();
    if (aligned != null) {
      ByteBuffer gathered = ByteBuffer.allocate(Math.toIntExact(wanted));
      for (ByteBuffer src : srcs) {
        gathered.put(src);
      }
      aligned.write(gathered.flip(), position);
      return;
    }
    check(position, wanted, BlkdebugRule.WRITE);
    image.write(srcs, position);
  }

  @Override
  public void truncate(long newSize) throws IOException {
    writeGeneration.incrementAndGet();
    image.truncate(newSize);
  }

  @Override
  public void force(boolean metadata) throws IOException {
    long generation = writeGeneration.get();
    if (generation == flushedGeneration) {
      return;
    }
    debugEvent("flush_to_disk");
    check(0, 0, BlkdebugRule.FLUSH);
    image.force(metadata);
    flushedGeneration = generation;
  }

  @Override
  public void punchHole(long position, long length) throws IOException {
    writeGeneration.incrementAndGet();
    if (!limits.any()) {
      check(position, length, BlkdebugRule.DISCARD);
      image.punchHole(position, length);
      return;
    }
    for (BlkdebugLimits.Piece piece : limits.discard(position, length)) {
      if (piece.fate() == BlkdebugLimits.Fate.PASS) {
        check(piece.offset(), piece.length(), BlkdebugRule.DISCARD);
        image.punchHole(piece.offset(), piece.length());
      }
    }
  }

  @Override
  public void zeroRange(long position, long length) throws IOException {
    writeGeneration.incrementAndGet();
    if (!limits.any()) {
      check(position, length, BlkdebugRule.WRITE_ZEROES);
      image.zeroRange(position, length);
      return;
    }
    for (BlkdebugLimits.Piece piece : limits.writeZeroes(position, length)) {
      if (piece.fate() == BlkdebugLimits.Fate.PASS) {
        check(piece.offset(), piece.length(), BlkdebugRule.WRITE_ZEROES);
        image.zeroRange(piece.offset(), piece.length());
      } else {
        // the block layer's fallback: zeros written as data
        write(ByteBuffer.allocate((int) piece.length()), piece.offset());
      }
    }
  }

  @Override
  public void allocate(long position, long length) throws IOException {
    writeGeneration.incrementAndGet();
    image.allocate(position, length);
  }

  @Override
  public long nextData(long position) throws IOException {
    return image.nextData(position);
  }

  @Override
  public long nextHole(long position) throws IOException {
    return image.nextHole(position);
  }

  @Override
  public void takePermission(io.qcow4j.disk.Permission permission) throws IOException {
    image.takePermission(permission);
  }

  @Override
  public void close() throws IOException {
    releaseAll();
    image.close();
  }

  /** strerror's text for the errno values a rule names (Linux's numbers). */
  static final class Errno {
    private Errno() {}

    static String text(int errno) {
      return switch (errno) {
        case 1 -> "Operation not permitted";
        case 2 -> "No such file or directory";
        case 5 -> "Input/output error";
        case 9 -> "Bad file descriptor";
        case 12 -> "Cannot allocate memory";
        case 13 -> "Permission denied";
        case 16 -> "Device or resource busy";
        case 17 -> "File exists";
        case 22 -> "Invalid argument";
        case 27 -> "File too large";
        case 28 -> "No space left on device";
        case 30 -> "Read-only file system";
        case 95 -> "Operation not supported";
        case 110 -> "Connection timed out";
        case 122 -> "Disk quota exceeded";
        default -> "Unknown error " + errno;
      };
    }
  }
}
