package io.qcow4j.nbd;

import static io.qcow4j.nbd.Protocol.*;

import io.qcow4j.nbd.Frames.Request;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ProbedRawWriteException;
import io.qcow4j.disk.ReadOnlyImageException;
import io.qcow4j.disk.RefcountOverflowException;
import java.io.EOFException;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Semaphore;

/**
 * The transmission phase of one connection: this thread reads requests in order, each request is
 * served on its own virtual thread, and replies go out as they complete, matched by cookie.
 */
final class Transmission {
  private static final System.Logger LOG = System.getLogger(Transmission.class.getName());
  /** Most descriptors in one block status reply; the client asks again for the rest. */
  private static final int MAX_DESCRIPTORS = 1024;
  private static final int CACHE_CHUNK = 1 << 20;
  /**
   * Bytes of payload one connection may hold in flight, in KiB permits: room for one of the
   * largest, or 16 requests of 2 MiB; the server's buffer pool bounds all connections together.
   */
  private static final int BUDGET_KIB = (MAX_PAYLOAD >> 10) + 1024;
  /**
   * Requests of one connection served at once, qemu-nbd's MAX_NBD_REQUESTS: the reader takes the
   * next request off the socket only when one of these is free. nbdcopy keeps 64 requests of 256
   * KiB in flight on each of its 4 connections; served all at once, their buffers (64 MiB) no
   * longer fit the CPU's caches and every copy of the kernel's went to memory (bench/RESULTS.md).
   */
  static final int MAX_REQUESTS = 16;

  private final Wire wire;
  private final Export export;
  private final DiskFile disk;
  private final boolean structured;
  private final boolean blockStatus;
  private final Negotiation.Contexts contexts;
  private final String client;
  private final BufferPool buffers;
  private final InFlight inFlight = new InFlight();
  private final Semaphore budget = new Semaphore(BUDGET_KIB);
  private final Semaphore requests = new Semaphore(MAX_REQUESTS);

  /** Why a request is refused before it runs. */
  private record Refusal(int error, String message) {}

  Transmission(Wire wire, Export export, Negotiation.Session session, BufferPool buffers, String client) {
    this.wire = wire;
    this.buffers = buffers;
    this.export = export;
    this.disk = export.disk();
    this.structured = session.structuredReplies();
    this.blockStatus = session.blockStatus();
    this.contexts = session.contexts();
    this.client = client;
  }

  /** What became of one request read off the socket. */
  private enum Step { DISPATCHED, ANSWERED, END }

  /** Reads and dispatches requests until NBD_CMD_DISC or the end of the stream. */
  void run() throws IOException {
    ByteBuffer header = ByteBuffer.allocate(Frames.REQUEST_BYTES);
    Step step = Step.ANSWERED;
    while (step != Step.END) {
      requests.acquireUninterruptibly();
      step = Step.END;
      try {
        step = next(header);
      } finally {
        if (step != Step.DISPATCHED) {
          requests.release();
        }
      }
    }
  }

  /** Reads one request and serves it on a worker, or answers it here when it is refused. */
  private Step next(ByteBuffer header) throws IOException {
    header.clear();
    try {
      wire.readFully(header);
    } catch (EOFException e) {
      if (header.position() == 0) {
        LOG.log(Level.DEBUG, "{0}: disconnected without NBD_CMD_DISC", client);
        return Step.END;
      }
      throw new ProtocolException("connection ended inside a request header");
    }
    header.flip();
    int magic = header.getInt();
    if (magic != REQUEST_MAGIC) {
      throw new ProtocolException("bad request magic 0x" + Integer.toHexString(magic));
    }
    Request request = Request.decodeAfterMagic(header);
    int type = request.type();
    if (type == CMD_DISC) {
      LOG.log(Level.DEBUG, "{0}: NBD_CMD_DISC", client);
      return Step.END;
    }
    ByteBuffer payload = null;
    int permits = 1;
    if (type == CMD_WRITE) {
      if (request.length() > MAX_PAYLOAD) {
        // Draining up to 4 GiB of payload would hand the client a denial of service: answer, then hang up.
        replyError(request, EINVAL, "write of " + request.length() + " bytes exceeds the "
            + MAX_PAYLOAD + "-byte limit");
        throw new ProtocolException("write payload of " + request.length() + " bytes");
      }
      permits = permits(request.length());
      budget.acquireUninterruptibly(permits);
      try {
        payload = buffers.acquire((int) request.length());
        wire.readFully(payload);
      } catch (IOException e) {
        buffers.release(payload);
        budget.release(permits);
        throw e;
      }
      payload.flip();
    }
    Refusal refusal = check(request);
    if (refusal != null) {
      buffers.release(payload);
      budget.release(permits);
      replyError(request, refusal.error(), refusal.message());
      return Step.ANSWERED;
    }
    if (type == CMD_READ) {
      permits = permits(request.length());
      budget.acquireUninterruptibly(permits);
    }
    dispatch(request, payload, permits);
    return Step.DISPATCHED;
  }

  /** Waits for the requests in flight to be answered; false if some still run after the timeout. */
  boolean awaitIdle(Duration timeout) {
    return inFlight.awaitIdle(timeout);
  }

  private static int permits(long length) {
    return 1 + (int) (length >> 10);
  }

  private void dispatch(Request request, ByteBuffer payload, int permits) {
    inFlight.begin();
    try {
      Thread.ofVirtual().name("nbd-request").start(() -> {
        try {
          serve(request, payload);
        } finally {
          buffers.release(payload);
          budget.release(permits);
          requests.release();
          inFlight.end();
        }
      });
    } catch (RuntimeException | Error e) {
      buffers.release(payload);
      budget.release(permits);
      inFlight.end();
      throw e;
    }
  }

  /** The checks that need no I/O: flags, bounds, access, negotiation; null when the request may run. */
  private Refusal check(Request request) {
    int allowed = switch (request.type()) {
      case CMD_READ -> CMD_FLAG_FUA | (structured ? CMD_FLAG_DF : 0);
      case CMD_WRITE, CMD_FLUSH, CMD_TRIM, CMD_CACHE -> CMD_FLAG_FUA;
      case CMD_WRITE_ZEROES -> CMD_FLAG_FUA | CMD_FLAG_NO_HOLE | CMD_FLAG_FAST_ZERO;
      case CMD_BLOCK_STATUS -> CMD_FLAG_FUA | CMD_FLAG_REQ_ONE;
      default -> -1;
    };
    if (allowed == -1) {
      return new Refusal(EINVAL, "unknown command " + request.type());
    }
    if ((request.flags() & ~allowed) != 0) {
      return new Refusal(EINVAL, "flags 0x" + Integer.toHexString(request.flags())
          + " are not valid for command " + request.type());
    }
    boolean writes = request.type() == CMD_WRITE || request.type() == CMD_TRIM
        || request.type() == CMD_WRITE_ZEROES;
    if (writes && export.readOnly()) {
      return new Refusal(EPERM, "the export is read-only");
    }
    if (request.type() == CMD_FLUSH) {
      return null;
    }
    long offset = request.offset();
    long length = request.length();
    if (Long.compareUnsigned(offset, export.size()) > 0 || length > export.size() - offset) {
      int error = request.type() == CMD_WRITE || request.type() == CMD_WRITE_ZEROES ? ENOSPC : EINVAL;
      return new Refusal(error, "range at offset " + Long.toUnsignedString(offset) + " length " + length
          + " is outside the export (" + export.size() + " bytes)");
    }
    return switch (request.type()) {
      case CMD_READ -> length > MAX_PAYLOAD
          ? new Refusal(EINVAL, "read of " + length + " bytes exceeds the " + MAX_PAYLOAD + "-byte limit")
          : null;
      case CMD_BLOCK_STATUS -> !blockStatus
          ? new Refusal(EINVAL, "no metadata context was negotiated")
          : length == 0 ? new Refusal(EINVAL, "block status of 0 bytes") : null;
      default -> null;
    };
  }

  /** Runs one request on its worker thread and answers it. */
  private void serve(Request request, ByteBuffer payload) {
    try {
      switch (request.type()) {
        case CMD_READ -> {
          read(request);
          return;
        }
        case CMD_BLOCK_STATUS -> {
          blockStatus(request);
          return;
        }
        case CMD_WRITE -> {
          disk.writeFully(payload, request.offset());
          forceIfFua(request);
        }
        case CMD_FLUSH -> {
          if (!export.readOnly()) {
            disk.force(false);
          }
        }
        case CMD_TRIM -> {
          trim(request);
          forceIfFua(request);
        }
        case CMD_WRITE_ZEROES -> {
          if (!writeZeroes(request)) {
            return;
          }
          forceIfFua(request);
        }
        case CMD_CACHE -> cache(request);
        default -> throw new IllegalStateException("unchecked command " + request.type());
      }
    } catch (IOException | RuntimeException e) {
      failed(request, e);
      return;
    }
    send(simpleReply(request.cookie(), 0));
  }

  private void forceIfFua(Request request) throws IOException {
    if (request.fua()) {
      disk.force(false);
    }
  }

  private void trim(Request request) throws IOException {
    if (request.length() == 0 || !export.unmap()) {
      return;
    }
    try {
      disk.discard(request.offset(), request.length());
    } catch (UnsupportedOperationException e) {
      // TRIM is a hint; a disk that cannot discard keeps its data and the request still succeeds.
    }
  }

  /** Zeroes the range; false when it already answered (a fast zero it cannot promise). */
  private boolean writeZeroes(Request request) throws IOException {
    boolean noHole = request.has(CMD_FLAG_NO_HOLE);
    if (request.has(CMD_FLAG_FAST_ZERO) && (noHole || !export.fastZeroes())) {
      // Zeros that must be provisioned, or a disk without a cheap way to zero, cost as much as
      // writing them: the spec wants a fast refusal, before touching the export.
      replyError(request, ENOTSUP, "zeroing is not faster than a write here");
      return false;
    }
    if (request.length() == 0) {
      return true;
    }
    if (!noHole && export.unmap()) {
      // Without NO_HOLE the client lets us unmap: whole zeroed clusters give their host space back.
      disk.writeZeroesUnmap(request.offset(), request.length());
      return true;
    }
    // zeros whose clusters stay: a v3 qcow2 zero flag keeps an allocated cluster's mapping
    disk.writeZeroes(request.offset(), request.length());
    if (noHole) {
      try {
        disk.allocate(request.offset(), request.length());
      } catch (UnsupportedOperationException e) {
        writeZeroBytes(request.offset(), request.length());
      }
    }
    return true;
  }

  private void writeZeroBytes(long offset, long length) throws IOException {
    ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(length, 1 << 20));
    for (long done = 0; done < length; ) {
      int count = (int) Math.min(length - done, zeros.capacity());
      zeros.clear().limit(count);
      disk.writeFully(zeros, offset + done);
      done += count;
    }
  }

  /** Reads the data of the range (at most the payload limit) so that later reads find it cached. */
  private void cache(Request request) throws IOException {
    long end = request.offset() + Math.min(request.length(), MAX_PAYLOAD);
    ByteBuffer sink = buffers.acquire(CACHE_CHUNK);
    try {
      for (long position = request.offset(); position < end; ) {
        sink.clear().limit((int) Math.min(CACHE_CHUNK, end - position));
        int count = disk.read(sink, position);
        if (count <= 0) {
          break;
        }
        position += count;
      }
    } finally {
      buffers.release(sink);
    }
  }

  private void read(Request request) {
    ByteBuffer data = buffers.acquire((int) request.length());
    try {
      read(request, data);
    } finally {
      buffers.release(data);
    }
  }

  private void read(Request request, ByteBuffer data) {
    int length = (int) request.length();
    long offset = request.offset();
    if (!structured || request.has(CMD_FLAG_DF) || length == 0) {
      try {
        disk.readFully(data, offset);
      } catch (IOException | RuntimeException e) {
        failed(request, e);
        return;
      }
      data.flip();
      if (!structured) {
        send(simpleReply(request.cookie(), 0), data);
      } else if (length == 0) {
        send(chunkHeader(REPLY_FLAG_DONE, REPLY_TYPE_NONE, request.cookie(), 0));
      } else {
        send(dataChunkHeader(REPLY_FLAG_DONE, request.cookie(), offset, length), data);
      }
      return;
    }
    List<ByteBuffer> message = new ArrayList<>();
    try {
      // Ranges that read as zeros go out as holes; the data of the rest is read first, so that no
      // content chunk is sent before every error that could fail the request is known.
      List<Run> runs = runs(offset, length);
      for (int i = 0; i < runs.size(); i++) {
        Run run = runs.get(i);
        int flags = i == runs.size() - 1 ? REPLY_FLAG_DONE : 0;
        if (run.hole()) {
          message.add(chunkHeader(flags, REPLY_TYPE_OFFSET_HOLE, request.cookie(), 12, 12)
              .putLong(run.start()).putInt(run.length()).flip());
        } else {
          ByteBuffer slice = data.slice((int) (run.start() - offset), run.length());
          disk.readFully(slice, run.start());
          message.add(dataChunkHeader(flags, request.cookie(), run.start(), run.length()));
          message.add(slice.flip());
        }
      }
    } catch (IOException | RuntimeException e) {
      failed(request, e);
      return;
    }
    send(message.toArray(ByteBuffer[]::new));
  }

  /** A stretch of a read that is all data or all zeros. */
  private record Run(long start, int length, boolean hole) {
    Run longer(long extra) {
      return new Run(start, length + (int) extra, hole);
    }
  }

  /** Splits [offset, offset + length) into alternating runs of data and of zeros, from the block status. */
  private List<Run> runs(long offset, int length) throws IOException {
    List<Run> runs = new ArrayList<>();
    long end = offset + length;
    for (long position = offset; position < end; ) {
      Extent extent = disk.blockStatus(position, end - position);
      long extentLength = Math.min(extent.length(), end - position);
      boolean hole = extent.zero();
      if (extentLength <= 0) {
        // A status that makes no progress: read the rest as data rather than loop.
        extentLength = end - position;
        hole = false;
      }
      Run last = runs.isEmpty() ? null : runs.getLast();
      if (last != null && last.hole() == hole) {
        runs.set(runs.size() - 1, last.longer(extentLength));
      } else {
        runs.add(new Run(position, (int) extentLength, hole));
      }
      position += extentLength;
    }
    return runs;
  }

  /** One base:allocation descriptor; its length is unsigned 32 bits on the wire. */
  private record Descriptor(long length, int state) {}

  /**
   * One chunk per selected context, in qemu-nbd's order (base:allocation, qemu:allocation-depth,
   * the dirty bitmaps), the last one flagged done; each lists at most {@link #MAX_DESCRIPTORS}
   * descriptors (one with NBD_CMD_FLAG_REQ_ONE), neighbours of one state merged.
   */
  private void blockStatus(Request request) throws IOException {
    int remaining = contexts.count();
    int limit = request.has(CMD_FLAG_REQ_ONE) ? 1 : MAX_DESCRIPTORS;
    if (contexts.baseAllocation()) {
      sendStatus(request, BASE_ALLOCATION_ID, statusDescriptors(request, limit, false), --remaining == 0);
    }
    if (contexts.allocationDepth()) {
      sendStatus(request, ALLOCATION_DEPTH_ID, statusDescriptors(request, limit, true), --remaining == 0);
    }
    boolean[] bitmaps = contexts.bitmaps();
    for (int index = 0; index < bitmaps.length; index++) {
      if (bitmaps[index]) {
        sendStatus(request, DIRTY_BITMAP_ID + index, bitmapDescriptors(request, limit,
            export.bitmaps().get(index)), --remaining == 0);
      }
    }
  }

  /** base:allocation (hole, zero) or, with {@code depth}, qemu:allocation-depth (0 unallocated, 1 this layer, ...). */
  private List<Descriptor> statusDescriptors(Request request, int limit, boolean depth) throws IOException {
    long end = request.offset() + request.length();
    List<Descriptor> descriptors = new ArrayList<>();
    for (long position = request.offset(); position < end; ) {
      Extent extent = disk.blockStatus(position, end - position);
      long extentLength = Math.min(extent.length(), end - position);
      int state = depth ? (extent.present() ? extent.depth() + 1 : 0)
          : (extent.data() ? 0 : STATE_HOLE) | (extent.zero() ? STATE_ZERO : 0);
      if (extentLength <= 0) {
        // A status that makes no progress: "allocated, content unknown" is always true.
        extentLength = end - position;
        state = depth ? 1 : 0;
      }
      if (!add(descriptors, extentLength, state, limit)) {
        break;
      }
      position += extentLength;
    }
    return descriptors;
  }

  /** qemu:dirty-bitmap:NAME: dirty (1) and clean (0) ranges as qemu-nbd's bitmap_to_extents lists them. */
  private List<Descriptor> bitmapDescriptors(Request request, int limit, NbdServer.ExportedBitmap bitmap)
      throws IOException {
    long end = request.offset() + request.length();
    List<Descriptor> descriptors = new ArrayList<>();
    long cursor = request.offset();
    for (io.qcow4j.disk.DirtyRange range : bitmap.ranges().dirtyRanges(request.offset(), request.length())) {
      if (range.start() > cursor && !add(descriptors, range.start() - cursor, 0, limit)) {
        return descriptors;
      }
      if (!add(descriptors, range.length(), STATE_DIRTY, limit)) {
        return descriptors;
      }
      cursor = range.end();
    }
    if (end > cursor) {
      add(descriptors, end - cursor, 0, limit);
    }
    return descriptors;
  }

  /** Adds a descriptor, merged into the last one of the same state while it fits 32 bits; false when full. */
  private static boolean add(List<Descriptor> descriptors, long length, int state, int limit) {
    Descriptor last = descriptors.isEmpty() ? null : descriptors.getLast();
    if (last != null && last.state() == state && last.length() + length <= 0xffff_ffffL) {
      descriptors.set(descriptors.size() - 1, new Descriptor(last.length() + length, state));
      return true;
    }
    if (descriptors.size() >= limit) {
      return false;
    }
    descriptors.add(new Descriptor(length, state));
    return true;
  }

  private void sendStatus(Request request, int contextId, List<Descriptor> descriptors, boolean last) {
    ByteBuffer payload = ByteBuffer.allocate(4 + 8 * descriptors.size()).putInt(contextId);
    for (Descriptor descriptor : descriptors) {
      payload.putInt((int) descriptor.length()).putInt(descriptor.state());
    }
    send(chunkHeader(last ? REPLY_FLAG_DONE : 0, REPLY_TYPE_BLOCK_STATUS, request.cookie(), payload.capacity()),
        payload.flip());
  }

  private void failed(Request request, Throwable failure) {
    int error = errorCode(failure);
    if (error == EIO) {
      // The message leaves the reason to the throwable: a front end prints it on the same line.
      LOG.log(Level.WARNING, client + ": " + commandName(request.type()) + " of " + request.length()
          + " bytes at offset " + Long.toUnsignedString(request.offset()) + " failed", failure);
    }
    String message = failure.getMessage() == null ? failure.getClass().getSimpleName() : failure.getMessage();
    replyError(request, error, message);
  }

  /** The name the NBD specification gives a command, for messages. */
  static String commandName(int type) {
    return switch (type) {
      case CMD_READ -> "NBD_CMD_READ";
      case CMD_WRITE -> "NBD_CMD_WRITE";
      case CMD_FLUSH -> "NBD_CMD_FLUSH";
      case CMD_TRIM -> "NBD_CMD_TRIM";
      case CMD_CACHE -> "NBD_CMD_CACHE";
      case CMD_WRITE_ZEROES -> "NBD_CMD_WRITE_ZEROES";
      case CMD_BLOCK_STATUS -> "NBD_CMD_BLOCK_STATUS";
      default -> "command " + type;
    };
  }

  /** The NBD error for a failure of the disk. */
  static int errorCode(Throwable failure) {
    if (failure instanceof ReadOnlyImageException || failure instanceof ProbedRawWriteException) {
      return EPERM;
    }
    // QEMU's update_refcount refuses a reference past the refcount width with EINVAL; a node made
    // unusable (ENOMEDIUM, as after a fatal corruption) has no NBD errno, which qemu-nbd sends as EINVAL
    if (failure instanceof IllegalArgumentException || failure instanceof RefcountOverflowException
        || failure instanceof io.qcow4j.disk.NoMediumException) {
      return EINVAL;
    }
    String message = failure.getMessage();
    if (failure instanceof IOException && message != null
        && (message.contains("No space left") || message.contains("Disk quota exceeded")
            || message.contains("File too large"))) {
      return ENOSPC;
    }
    return EIO;
  }

  private void replyError(Request request, int error, String message) {
    if (!structured) {
      send(simpleReply(request.cookie(), error));
      return;
    }
    byte[] text = message.getBytes(StandardCharsets.UTF_8);
    int textLength = Math.min(text.length, MAX_STRING);
    ByteBuffer payload = ByteBuffer.allocate(6 + textLength).putInt(error).putShort((short) textLength)
        .put(text, 0, textLength).flip();
    send(chunkHeader(REPLY_FLAG_DONE, REPLY_TYPE_ERROR, request.cookie(), payload.remaining()), payload);
  }

  private static ByteBuffer simpleReply(long cookie, int error) {
    return Frames.simpleReply(cookie, error);
  }

  private static ByteBuffer chunkHeader(int flags, int type, long cookie, int length) {
    return chunkHeader(flags, type, cookie, length, 0).flip();
  }

  /** A chunk header with room for {@code room} payload bytes after it, positioned to write them. */
  private static ByteBuffer chunkHeader(int flags, int type, long cookie, int length, int room) {
    return Frames.chunkHeader(flags, type, cookie, length, room);
  }

  /** The header of an OFFSET_DATA chunk with its offset field; the data follows in its own buffer. */
  private static ByteBuffer dataChunkHeader(int flags, long cookie, long offset, int dataLength) {
    return chunkHeader(flags, REPLY_TYPE_OFFSET_DATA, cookie, 8 + dataLength, 8).putLong(offset).flip();
  }

  /** Sends one whole reply; a reply cut short leaves the stream unusable, so a failure closes it. */
  private void send(ByteBuffer... message) {
    try {
      wire.write(message);
    } catch (IOException e) {
      LOG.log(Level.DEBUG, "{0}: reply not delivered: {1}", client, e.toString());
      wire.close();
    }
  }
}
