package io.qcow4j.internal.storagenodes;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes to a node with a request alignment (blkdebug's align), as QEMU's block layer makes them
 * (bdrv_co_pwritev_part): a write not aligned at both ends is widened to the blocks it touches,
 * their old content read first (read-modify-write, with the pwritev_rmw_* events), and is made
 * serialising: it waits for every overlapping request in flight, and they for it, so that two
 * read-modify-writes of one block never lose each other's bytes. Every write then raises pwritev
 * before and pwritev_done after its I/O.
 */
final class AlignedWrites {
  /** The node's side: its events and its aligned I/O. */
  interface Node {
    /** Raises a blkdebug event (and waits there when a breakpoint holds the request). */
    void event(String name);

    /** Reads whole blocks. */
    void readBlocks(ByteBuffer dst, long position) throws IOException;

    /** Writes whole blocks. */
    void writeBlocks(ByteBuffer src, long position) throws IOException;
  }

  /** A request in flight over [start, end) (QEMU's BdrvTrackedRequest). */
  private static final class Tracked {
    final long start;
    final long end;
    boolean serialising;
    Tracked waitingFor;

    Tracked(long start, long end) {
      this.start = start;
      this.end = end;
    }
  }

  private final long align;
  private final Node node;
  private final List<Tracked> inFlight = new ArrayList<>();

  AlignedWrites(long align, Node node) {
    this.align = align;
    this.node = node;
  }

  /** Writes {@code src} at {@code position}, widened and serialised where it is not aligned. */
  void write(ByteBuffer src, long position) throws IOException {
    int length = src.remaining();
    long start = Math.floorDiv(position, align) * align;
    long end = length == 0 ? position : Math.ceilDiv(position + length, align) * align;
    long head = position - start;
    long tail = end - (position + length);
    Tracked request = begin(start, end);
    try {
      ByteBuffer whole = src;
      if (head != 0 || tail != 0) {
        serialise(request);
        whole = ByteBuffer.allocate((int) (end - start));
        readPadding(whole, start, end, head, tail);
        whole.put((int) head, src, src.position(), length);
      }
      awaitConflicts(request);
      node.event("pwritev");
      node.writeBlocks(whole.duplicate(), start);
      node.event("pwritev_done");
      src.position(src.limit());
    } finally {
      end(request);
    }
  }

  /** QEMU's bdrv_padding_rmw_read: the head block and the tail block (one read when they are one). */
  private void readPadding(ByteBuffer whole, long start, long end, long head, long tail) throws IOException {
    long sum = end - start;
    long bufferLength = sum > align && head != 0 && tail != 0 ? 2 * align : align;
    boolean mergeReads = sum == bufferLength;
    if (head != 0 || mergeReads) {
      int bytes = (int) (mergeReads ? bufferLength : align);
      if (head != 0) {
        node.event("pwritev_rmw_head");
      }
      if (mergeReads && tail != 0) {
        node.event("pwritev_rmw_tail");
      }
      node.readBlocks(whole.slice(0, bytes), start);
      if (head != 0) {
        node.event("pwritev_rmw_after_head");
      }
      if (mergeReads && tail != 0) {
        node.event("pwritev_rmw_after_tail");
      }
      if (mergeReads) {
        return;
      }
    }
    if (tail != 0) {
      node.event("pwritev_rmw_tail");
      node.readBlocks(whole.slice((int) (sum - align), (int) align), end - align);
      node.event("pwritev_rmw_after_tail");
    }
  }

  private synchronized Tracked begin(long start, long end) {
    Tracked request = new Tracked(start, end);
    inFlight.add(request);
    return request;
  }

  private synchronized void end(Tracked request) {
    inFlight.remove(request);
    notifyAll();
  }

  private void serialise(Tracked request) {
    synchronized (this) {
      request.serialising = true;
    }
    awaitConflicts(request);
  }

  /** QEMU's bdrv_wait_serialising_requests: waits while an overlapping request conflicts with this one. */
  private synchronized void awaitConflicts(Tracked request) {
    boolean interrupted = false;
    for (Tracked conflict = conflict(request); conflict != null; conflict = conflict(request)) {
      request.waitingFor = conflict;
      try {
        wait();
      } catch (InterruptedException e) {
        interrupted = true;
      } finally {
        request.waitingFor = null;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /** QEMU's bdrv_find_conflicting_request: one of the two serialising, overlapping, and not waiting itself. */
  private Tracked conflict(Tracked self) {
    for (Tracked other : inFlight) {
      if (other == self || (!other.serialising && !self.serialising)) {
        continue;
      }
      if (other.start < self.end && self.start < other.end && other.waitingFor == null) {
        return other;
      }
    }
    return null;
  }
}
