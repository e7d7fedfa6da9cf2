package io.qcow4j.nbd;

import static io.qcow4j.nbd.Protocol.*;

import io.qcow4j.nbd.Frames.Request;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An NBD client connection in the transmission phase, as QEMU 7.2's nbd block driver opens one:
 * fixed newstyle handshake, structured replies, one metadata context (base:allocation, or the
 * x-dirty-bitmap context named instead), NBD_OPT_GO with a block-size request. Thread-safe: any
 * number of requests may be in flight; each is sent whole under the socket's write lock and its
 * reply is read by the connection's one reader thread, which puts read data straight into the
 * caller's buffer and wakes the caller. When the connection breaks, every request in flight and
 * every later one fails with an I/O error.
 */
public final class NbdClient implements Closeable {
  /** The status of a run of bytes from a block status request: its length and the context's flags. */
  public record Status(long length, int flags) {
    /** base:allocation's NBD_STATE_HOLE: no data is allocated. */
    public boolean hole() {
      return (flags & STATE_HOLE) != 0;
    }

    /** base:allocation's NBD_STATE_ZERO: reads as zeros. */
    public boolean zero() {
      return (flags & STATE_ZERO) != 0;
    }
  }

  private final NbdAddress address;
  private final SocketChannel channel;
  private final Wire wire;
  private final ExportInfo info;
  private final boolean structured;
  /** The negotiated metadata context, null when the server has none for us. */
  private final ClientNegotiation.Context context;
  private final boolean allocationDepth;
  private final Map<Long, Pending> inFlight = new ConcurrentHashMap<>();
  private final AtomicLong cookies = new AtomicLong(1);
  private final Thread reader;
  /** Why the connection ended (null while it works). */
  private volatile IOException broken;
  private volatile boolean closing;

  private NbdClient(NbdAddress address, SocketChannel channel, Wire wire, ExportInfo info, boolean structured,
      ClientNegotiation.Context context) {
    this.address = address;
    this.channel = channel;
    this.wire = wire;
    this.info = info;
    this.structured = structured;
    this.context = context;
    this.allocationDepth = context != null && context.name().equals(ALLOCATION_DEPTH);
    this.reader = Thread.ofPlatform().daemon().name("nbd-client " + address).unstarted(this::readReplies);
  }

  /**
   * Connects to {@code export} at {@code address}, with block status from {@code metaContext}
   * (null: base:allocation; else QEMU's x-dirty-bitmap, a context whose bit 0 reads as a hole and
   * bit 1 as zeros). Failures carry QEMU's messages.
   */
  public static NbdClient connect(NbdAddress address, String export, String metaContext) throws IOException {
    SocketChannel channel = address.connect();
    try {
      Wire wire = new Wire(channel, "server");
      ClientNegotiation negotiation = new ClientNegotiation(wire);
      negotiation.start(true);
      ClientNegotiation.Context context = null;
      boolean structured = negotiation.structuredReplies();
      if (structured) {
        context = negotiation.setMetaContext(export, metaContext != null ? metaContext : BASE_ALLOCATION);
      }
      ExportInfo info = negotiation.info(OPT_GO, export, true);
      if (info == null) {
        negotiation.abort();
        throw new IOException("Server does not support NBD_OPT_GO, which qcow4j needs");
      }
      if (metaContext != null && context == null) {
        // QEMU's own message is lost on the way to qemu-img, which prints this
        throw new IOException("Could not open image: Invalid argument");
      }
      NbdClient client = new NbdClient(address, channel, wire, info, structured, context);
      client.reader.start();
      return client;
    } catch (IOException | RuntimeException e) {
      channel.close();
      throw e;
    }
  }

  /**
   * What qemu-nbd --list learns of a server: each export from NBD_OPT_LIST with NBD_OPT_INFO's
   * size, flags and block sizes and, with structured replies, its metadata contexts.
   */
  public static List<ExportInfo> list(NbdAddress address) throws IOException {
    try (SocketChannel channel = address.connect()) {
      Wire wire = new Wire(channel, "server");
      ClientNegotiation negotiation = new ClientNegotiation(wire);
      negotiation.start(true);
      List<ExportInfo> exports = new ArrayList<>();
      for (String[] entry : negotiation.list()) {
        exports.add(new ExportInfo(entry[0], entry[1], 0, 0, 0, 0, 0, List.of()));
      }
      for (int index = 0; index < exports.size(); index++) {
        ExportInfo listed = exports.get(index);
        ExportInfo info = negotiation.info(OPT_INFO, listed.name(), true);
        if (info == null) {
          // without NBD_OPT_INFO, metadata contexts are unlikely to work either
          break;
        }
        info = info.withNameAndDescription(listed.name(), listed.description());
        if (negotiation.structuredReplies()) {
          info = info.withContexts(negotiation.listMetaContexts(listed.name()));
        }
        exports.set(index, info);
      }
      negotiation.abort();
      return exports;
    }
  }

  /** The server's address. */
  public NbdAddress address() {
    return address;
  }

  /** What the server said of the export when the client connected. */
  public ExportInfo info() {
    return info;
  }

  /** The export's size in bytes. */
  public long size() {
    return info.size();
  }

  /** The negotiated metadata context; null when block status is not available. */
  public String metaContext() {
    return context == null ? null : context.name();
  }

  /** The largest read or write payload the client sends in one request. */
  public int maxPayload() {
    int max = info.maxBlock();
    return max > 0 && max < MAX_PAYLOAD ? max : MAX_PAYLOAD;
  }

  /** Reads {@code dst.remaining()} bytes at {@code offset} (at most {@link #maxPayload()}), advancing dst. */
  public void read(ByteBuffer dst, long offset) throws IOException {
    int length = dst.remaining();
    checkPayload(length);
    ByteBuffer target = dst.slice();
    if (length > 0) {
      run(new Request(CMD_READ, 0, 0, offset, length), null, target);
    }
    dst.position(dst.position() + length);
  }

  /** Writes all of {@code src} at {@code offset} (at most {@link #maxPayload()}), with FUA when asked and offered. */
  public void write(ByteBuffer src, long offset, boolean fua) throws IOException {
    int length = src.remaining();
    checkPayload(length);
    run(new Request(CMD_WRITE, fua && has(FLAG_SEND_FUA) ? CMD_FLAG_FUA : 0, 0, offset, length), src.slice(), null);
    src.position(src.position() + length);
  }

  /** Makes what was written durable; nothing when the server offers no flush. */
  public void flush() throws IOException {
    if (has(FLAG_SEND_FLUSH)) {
      run(new Request(CMD_FLUSH, 0, 0, 0, 0), null, null);
    }
  }

  /** Tells the server the range is no longer needed; nothing when it offers no trim (as QEMU's client). */
  public void trim(long offset, long length) throws IOException {
    if (has(FLAG_SEND_TRIM) && length > 0) {
      for (long done = 0; done < length; ) {
        long count = Math.min(length - done, Integer.MAX_VALUE & ~0xfffL);
        run(new Request(CMD_TRIM, 0, 0, offset + done, count), null, null);
        done += count;
      }
    }
  }

  /**
   * Makes the range read as zeros: NBD_CMD_WRITE_ZEROES (with NO_HOLE unless {@code mayUnmap}),
   * or zero bytes written when the server offers no such command.
   */
  public void writeZeroes(long offset, long length, boolean mayUnmap) throws IOException {
    int max = maxPayload();
    if (!has(FLAG_SEND_WRITE_ZEROES)) {
      ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(length, max));
      for (long done = 0; done < length; ) {
        int count = (int) Math.min(length - done, zeros.capacity());
        write(zeros.clear().limit(count), offset + done, false);
        done += count;
      }
      return;
    }
    for (long done = 0; done < length; ) {
      long count = Math.min(length - done, max);
      run(new Request(CMD_WRITE_ZEROES, mayUnmap ? 0 : CMD_FLAG_NO_HOLE, 0, offset + done, count), null, null);
      done += count;
    }
  }

  /**
   * The status of the bytes from {@code offset}: one run of at most {@code length} bytes, as
   * QEMU's client asks for it (NBD_CMD_FLAG_REQ_ONE); null when no metadata context was
   * negotiated. Depths of qemu:allocation-depth past 2 read as 2, as QEMU's x-dirty-bitmap does.
   */
  public Status blockStatus(long offset, long length) throws IOException {
    if (context == null) {
      return null;
    }
    long count = Math.min(Integer.MAX_VALUE, Math.min(length, info.size() - offset));
    if (count <= 0) {
      throw new IllegalArgumentException("block status at " + offset + " outside the export (" + info.size()
          + " bytes)");
    }
    Pending pending = run(new Request(CMD_BLOCK_STATUS, CMD_FLAG_REQ_ONE, 0, offset, count), null, null);
    long statusLength = Math.min(pending.statusLength, count);
    int flags = pending.statusFlags;
    int minBlock = info.minBlock();
    if (minBlock > 1 && statusLength % minBlock != 0) {
      // a server may report an unaligned tail (qemu-nbd 3.1 did): cut it off, or round a lone
      // unaligned block up as allocated data, which is always safe
      if (statusLength > minBlock) {
        statusLength -= statusLength % minBlock;
      } else {
        statusLength = minBlock;
        flags = 0;
      }
    }
    if (allocationDepth && Integer.compareUnsigned(flags, 2) > 0) {
      flags = 2;
    }
    return new Status(statusLength, flags);
  }

  private boolean has(int flag) {
    return (info.flags() & flag) != 0;
  }

  private void checkPayload(int length) {
    if (length > maxPayload()) {
      throw new IllegalArgumentException("a request of " + length + " bytes exceeds the server's limit of "
          + maxPayload());
    }
  }

  /** One request in flight: what its reply fills in, and the latch its caller waits on. */
  private static final class Pending {
    final Request request;
    final ByteBuffer target;
    final CountDownLatch done = new CountDownLatch(1);
    /** The NBD error the server answered, 0 for success. */
    int error;
    /** A protocol failure of this reply, or the connection's end. */
    IOException failure;
    long statusLength;
    int statusFlags;
    boolean statusSeen;

    Pending(Request request, ByteBuffer target) {
      this.request = request;
      this.target = target;
    }
  }

  /** Sends the request and waits for its reply; fails with the server's error or the connection's. */
  private Pending run(Request template, ByteBuffer payload, ByteBuffer target) throws IOException {
    long cookie = cookies.getAndIncrement();
    Request request = new Request(template.type(), template.flags(), cookie, template.offset(), template.length());
    Pending pending = new Pending(request, target);
    inFlight.put(cookie, pending);
    IOException failure = broken;
    if (failure == null) {
      try {
        if (payload != null) {
          wire.write(request.encode(), payload);
        } else {
          wire.write(request.encode());
        }
      } catch (IOException e) {
        fail(e);
      }
    } else {
      inFlight.remove(cookie);
      throw requestFailure(failure);
    }
    boolean interrupted = false;
    while (true) {
      try {
        pending.done.await();
        break;
      } catch (InterruptedException e) {
        // the reply is read by the reader thread: the buffer cannot be given back before it
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    if (pending.failure != null) {
      throw requestFailure(pending.failure);
    }
    if (pending.error != 0) {
      throw new NbdErrorException(pending.error);
    }
    return pending;
  }

  /** What a request sees when the connection is gone: an I/O error, as QEMU's client returns EIO. */
  private static IOException requestFailure(IOException cause) {
    return new NbdErrorException(EIO, cause);
  }

  /** The reader thread: takes each reply off the socket and hands it to its request. */
  private void readReplies() {
    try {
      while (true) {
        int magic = wire.readInt();
        if (magic == SIMPLE_REPLY_MAGIC) {
          simpleReply();
        } else if (magic == STRUCTURED_REPLY_MAGIC) {
          chunk();
        } else {
          throw new IOException("invalid magic (got 0x" + Integer.toHexString(magic) + ")");
        }
      }
    } catch (IOException e) {
      fail(closing && e instanceof EOFException ? new IOException("Connection closed") : e);
    } catch (RuntimeException e) {
      fail(new IOException("Protocol error: " + e, e));
    }
  }

  private void simpleReply() throws IOException {
    int error = wire.readInt();
    long cookie = wire.readLong();
    Pending pending = inFlight.get(cookie);
    if (pending == null) {
      throw new IOException("Protocol error: reply to unknown request " + Long.toUnsignedString(cookie));
    }
    int type = pending.request.type();
    if (structured && (type == CMD_READ || type == CMD_BLOCK_STATUS) && error == 0) {
      throw new IOException("Protocol error: simple reply when structured reply chunk was expected");
    }
    if (error == 0 && type == CMD_READ) {
      wire.readFully(pending.target.duplicate());
    }
    pending.error = error == 0 ? 0 : systemError(error);
    complete(cookie, pending);
  }

  private void chunk() throws IOException {
    ByteBuffer header = ByteBuffer.allocate(Frames.CHUNK_BYTES - 4);
    wire.readFully(header);
    Frames.Chunk chunk = Frames.Chunk.decodeAfterMagic(header.flip());
    Pending pending = inFlight.get(chunk.cookie());
    if (pending == null) {
      throw new IOException("Protocol error: reply to unknown request " + Long.toUnsignedString(chunk.cookie()));
    }
    long length = chunk.length();
    Request request = pending.request;
    switch (chunk.type()) {
      case REPLY_TYPE_NONE -> {
        if (!chunk.done()) {
          throw new IOException("Protocol error: NBD_REPLY_TYPE_NONE chunk without NBD_REPLY_FLAG_DONE flag set");
        }
        if (length != 0) {
          throw new IOException("Protocol error: NBD_REPLY_TYPE_NONE chunk with nonzero length");
        }
      }
      case REPLY_TYPE_OFFSET_DATA -> {
        if (request.type() != CMD_READ) {
          throw new IOException("Unexpected NBD_REPLY_TYPE_OFFSET_DATA chunk");
        }
        if (length <= 8) {
          throw new IOException("Protocol error: invalid payload for NBD_REPLY_TYPE_OFFSET_DATA");
        }
        long offset = wire.readLong();
        long dataLength = length - 8;
        ByteBuffer region = region(request, pending.target, offset, dataLength);
        wire.readFully(region);
      }
      case REPLY_TYPE_OFFSET_HOLE -> {
        if (request.type() != CMD_READ) {
          throw new IOException("Unexpected NBD_REPLY_TYPE_OFFSET_HOLE chunk");
        }
        if (length != 12) {
          throw new IOException("Protocol error: invalid payload for NBD_REPLY_TYPE_OFFSET_HOLE");
        }
        long offset = wire.readLong();
        long holeLength = Integer.toUnsignedLong(wire.readInt());
        ByteBuffer region = region(request, pending.target, offset, holeLength);
        while (region.hasRemaining()) {
          region.put((byte) 0);
        }
      }
      case REPLY_TYPE_BLOCK_STATUS -> {
        if (request.type() != CMD_BLOCK_STATUS) {
          throw new IOException("Unexpected NBD_REPLY_TYPE_BLOCK_STATUS chunk");
        }
        if (pending.statusSeen) {
          throw new IOException("Several BLOCK_STATUS chunks in reply");
        }
        if (length < 12 || length > MAX_OPTION_LENGTH) {
          throw new IOException("Protocol error: invalid payload for NBD_REPLY_TYPE_BLOCK_STATUS");
        }
        int id = wire.readInt();
        long extentLength = Integer.toUnsignedLong(wire.readInt());
        int flags = wire.readInt();
        wire.skip(length - 12);
        if (id != context.id()) {
          throw new IOException("Protocol error: unexpected context id " + id
              + " for NBD_REPLY_TYPE_BLOCK_STATUS, when negotiated context id is " + context.id());
        }
        if (extentLength == 0) {
          throw new IOException("Protocol error: server sent status chunk with zero length");
        }
        pending.statusSeen = true;
        pending.statusLength = extentLength;
        pending.statusFlags = flags;
      }
      default -> {
        if ((chunk.type() & 0x8000) == 0) {
          throw new IOException("Protocol error: unknown reply chunk type " + chunk.type());
        }
        if (length < 6 || length > MAX_OPTION_LENGTH) {
          throw new IOException("Protocol error: invalid payload for structured error");
        }
        int error = wire.readInt();
        wire.skip(length - 4);
        if (error == 0) {
          throw new IOException("Protocol error: server sent structured error chunk with error = 0");
        }
        if (pending.error == 0) {
          pending.error = systemError(error);
        }
      }
    }
    if (chunk.done()) {
      if (request.type() == CMD_BLOCK_STATUS && pending.error == 0 && !pending.statusSeen) {
        throw new IOException("Server did not reply with any status extents");
      }
      complete(chunk.cookie(), pending);
    }
  }

  /** The part of a read's buffer a chunk at {@code offset} of {@code length} bytes fills; a protocol error outside it. */
  private static ByteBuffer region(Request request, ByteBuffer target, long offset, long length) throws IOException {
    if (offset < request.offset() || length > request.length() || offset - request.offset() > request.length() - length) {
      throw new IOException("Protocol error: server sent chunk exceeding requested region");
    }
    int start = (int) (offset - request.offset());
    return target.duplicate().position(start).limit(start + (int) length);
  }

  private void complete(long cookie, Pending pending) {
    inFlight.remove(cookie);
    pending.done.countDown();
  }

  /** Ends the connection: every request in flight fails with {@code cause}. */
  private void fail(IOException cause) {
    if (broken == null) {
      broken = cause;
    }
    wire.close();
    for (Long cookie : List.copyOf(inFlight.keySet())) {
      Pending pending = inFlight.remove(cookie);
      if (pending != null) {
        pending.failure = broken;
        pending.done.countDown();
      }
    }
  }

  /** The errno QEMU's client turns an NBD error into: an unknown one is EINVAL. */
  private static int systemError(int nbdError) {
    return switch (nbdError) {
      case EPERM, EIO, ENOMEM, ENOSPC, EOVERFLOW, ENOTSUP, ESHUTDOWN, EINVAL -> nbdError;
      default -> EINVAL;
    };
  }

  /** Says goodbye (NBD_CMD_DISC) and closes the connection; requests still in flight fail. */
  @Override
  public void close() throws IOException {
    if (closing) {
      return;
    }
    closing = true;
    if (broken == null) {
      try {
        wire.write(new Request(CMD_DISC, 0, cookies.getAndIncrement(), 0, 0).encode());
        channel.shutdownOutput();
      } catch (IOException e) {
        // the server is gone already
      }
    }
    try {
      reader.join(java.time.Duration.ofSeconds(5));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    fail(new IOException("Connection closed"));
  }
}
