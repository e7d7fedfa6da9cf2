package io.qcow4j.nbd.testkit;

import java.io.EOFException;
import java.io.IOException;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An NBD client with many requests in flight on one connection: requests go out as they are sent,
 * a reader thread completes them as replies come back in any order. Each request records when it
 * was sent and when its reply was read on a clock shared by all connections, so that a test knows
 * which replies a client had seen before it sent a FLUSH. A connection that dies (the server was
 * killed) fails every request still in flight and refuses new ones.
 */
public final class PipelinedNbdClient implements AutoCloseable {
  public static final int CMD_READ = 0;
  public static final int CMD_WRITE = 1;
  public static final int CMD_DISC = 2;
  public static final int CMD_FLUSH = 3;
  public static final int CMD_TRIM = 4;
  public static final int CMD_WRITE_ZEROES = 6;
  public static final int FLAG_FUA = 1;
  public static final int FLAG_NO_HOLE = 1 << 1;
  /** Transmission flag: FLUSH and FUA on one connection cover what every connection wrote. */
  public static final int FLAG_CAN_MULTI_CONN = 1 << 8;

  private static final long NBDMAGIC = 0x4e42444d41474943L;
  private static final long IHAVEOPT = 0x49484156454f5054L;
  private static final long OPTION_REPLY_MAGIC = 0x3e889045565a9L;
  private static final int REQUEST_MAGIC = 0x25609513;
  private static final int SIMPLE_REPLY_MAGIC = 0x67446698;
  private static final int OPT_GO = 7;
  private static final int REP_ACK = 1;
  private static final int REP_INFO = 3;
  private static final int INFO_EXPORT = 0;

  /** A reply: the NBD error (0 for success), the data of a read, and when it was read. */
  public record Reply(int error, byte[] data, long ackTick) {}

  /** One request sent: what it asked, when, and its reply to come. */
  public record Request(int type, int flags, long cookie, long offset, long length, long sendTick,
      CompletableFuture<Reply> reply) {
    /** The reply if it came, else null (not answered, or the connection died first). */
    public Reply replyNow() {
      return reply.isDone() && !reply.isCompletedExceptionally() ? reply.getNow(null) : null;
    }

    /** Whether the server answered it with success. */
    public boolean succeeded() {
      Reply answer = replyNow();
      return answer != null && answer.error() == 0;
    }

    public boolean has(int flag) {
      return (flags & flag) != 0;
    }
  }

  private final SocketChannel channel;
  private final AtomicLong clock;
  private final Semaphore window;
  private final Map<Long, Request> inFlight = new ConcurrentHashMap<>();
  private final AtomicLong cookies = new AtomicLong();
  private final Object sendLock = new Object();
  private final long size;
  private final int transmissionFlags;
  private final Thread reader;
  private volatile IOException broken;

  private PipelinedNbdClient(SocketChannel channel, AtomicLong clock, int depth, long size, int transmissionFlags) {
    this.channel = channel;
    this.clock = clock;
    this.window = new Semaphore(depth);
    this.size = size;
    this.transmissionFlags = transmissionFlags;
    this.reader = Thread.ofPlatform().daemon().name("nbd-client-reader").unstarted(this::readReplies);
  }

  /**
   * Connects to {@code address}, negotiates the default export with NBD_OPT_GO (fixed newstyle,
   * simple replies) and allows up to {@code depth} requests in flight; ticks come from {@code clock}.
   */
  public static PipelinedNbdClient connect(SocketAddress address, AtomicLong clock, int depth) throws IOException {
    SocketChannel channel = address instanceof UnixDomainSocketAddress
        ? SocketChannel.open(StandardProtocolFamily.UNIX) : SocketChannel.open();
    try {
      channel.connect(address);
      ByteBuffer greeting = readFully(channel, 18);
      if (greeting.getLong() != NBDMAGIC || greeting.getLong() != IHAVEOPT) {
        throw new IOException("not a fixed newstyle NBD server");
      }
      int handshakeFlags = Short.toUnsignedInt(greeting.getShort());
      writeFully(channel, ByteBuffer.allocate(4).putInt(handshakeFlags & 3).flip());
      // NBD_OPT_GO for the default export (empty name), asking for no extra information.
      writeFully(channel, ByteBuffer.allocate(16 + 6).putLong(IHAVEOPT).putInt(OPT_GO).putInt(6)
          .putInt(0).putShort((short) 0).flip());
      long exportSize = -1;
      int flags = 0;
      while (true) {
        ByteBuffer header = readFully(channel, 20);
        if (header.getLong() != OPTION_REPLY_MAGIC) {
          throw new IOException("bad option reply magic");
        }
        header.getInt();
        int type = header.getInt();
        ByteBuffer data = readFully(channel, header.getInt());
        if (type == REP_ACK) {
          break;
        }
        if (type < 0) {
          throw new IOException("NBD_OPT_GO refused: reply type 0x" + Integer.toHexString(type));
        }
        if (type == REP_INFO && data.getShort() == INFO_EXPORT) {
          exportSize = data.getLong();
          flags = Short.toUnsignedInt(data.getShort());
        }
      }
      if (exportSize < 0) {
        throw new IOException("the server sent no NBD_INFO_EXPORT");
      }
      PipelinedNbdClient client = new PipelinedNbdClient(channel, clock, depth, exportSize, flags);
      client.reader.start();
      return client;
    } catch (IOException | RuntimeException e) {
      channel.close();
      throw e;
    }
  }

  public long size() {
    return size;
  }

  public int transmissionFlags() {
    return transmissionFlags;
  }

  public Request write(long offset, byte[] data, int flags) throws IOException, InterruptedException {
    return send(CMD_WRITE, flags, offset, data.length, data);
  }

  public Request trim(long offset, long length, int flags) throws IOException, InterruptedException {
    return send(CMD_TRIM, flags, offset, length, null);
  }

  public Request writeZeroes(long offset, long length, int flags) throws IOException, InterruptedException {
    return send(CMD_WRITE_ZEROES, flags, offset, length, null);
  }

  public Request flush() throws IOException, InterruptedException {
    return send(CMD_FLUSH, 0, 0, 0, null);
  }

  public Request read(long offset, int length) throws IOException, InterruptedException {
    return send(CMD_READ, 0, offset, length, null);
  }

  /**
   * Sends one request once fewer than {@code depth} are in flight; its send tick is taken just
   * before its first byte goes out. Throws if the connection is already dead; a request whose
   * sending fails is failed too.
   */
  public Request send(int type, int flags, long offset, long length, byte[] payload)
      throws IOException, InterruptedException {
    window.acquire();
    Request request;
    synchronized (sendLock) {
      if (broken != null) {
        window.release();
        throw new IOException("connection lost", broken);
      }
      request = new Request(type, flags, cookies.incrementAndGet(), offset, length, clock.incrementAndGet(),
          new CompletableFuture<>());
      inFlight.put(request.cookie(), request);
      ByteBuffer header = ByteBuffer.allocate(28).putInt(REQUEST_MAGIC).putShort((short) flags)
          .putShort((short) type).putLong(request.cookie()).putLong(offset).putInt((int) length).flip();
      try {
        if (payload == null) {
          writeFully(channel, header);
        } else {
          writeFully(channel, header, ByteBuffer.wrap(payload));
        }
      } catch (IOException e) {
        fail(e);
      }
    }
    return request;
  }

  /** Waits until every request sent so far is answered or failed. */
  public void drain() {
    for (Request request : inFlight.values()) {
      request.reply().exceptionally(failure -> null).join();
    }
  }

  private void readReplies() {
    try {
      while (true) {
        ByteBuffer header = readFully(channel, 16);
        int magic = header.getInt();
        if (magic != SIMPLE_REPLY_MAGIC) {
          throw new IOException("bad reply magic 0x" + Integer.toHexString(magic));
        }
        int error = header.getInt();
        long cookie = header.getLong();
        Request request = inFlight.get(cookie);
        if (request == null) {
          throw new IOException("reply to unknown cookie " + cookie);
        }
        byte[] data = null;
        if (request.type() == CMD_READ && error == 0) {
          data = readFully(channel, (int) request.length()).array();
        }
        long ackTick = clock.incrementAndGet();
        if (inFlight.remove(cookie) != null) {
          request.reply().complete(new Reply(error, data, ackTick));
          window.release();
        }
      }
    } catch (IOException e) {
      fail(e);
    }
  }

  /** Marks the connection dead and fails every request in flight. */
  private void fail(IOException cause) {
    if (broken == null) {
      broken = cause;
    }
    for (Request request : inFlight.values()) {
      if (inFlight.remove(request.cookie()) != null) {
        request.reply().completeExceptionally(cause);
        window.release();
      }
    }
  }

  /** Sends NBD_CMD_DISC if the connection still lives, then closes it. */
  @Override
  public void close() throws IOException {
    synchronized (sendLock) {
      if (broken == null) {
        try {
          writeFully(channel, ByteBuffer.allocate(28).putInt(REQUEST_MAGIC).putShort((short) 0)
              .putShort((short) CMD_DISC).putLong(0).putLong(0).putInt(0).flip());
        } catch (IOException e) {
          // Already gone.
        }
      }
    }
    channel.close();
    try {
      reader.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    fail(new IOException("closed"));
  }

  private static ByteBuffer readFully(SocketChannel channel, int length) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(length);
    while (buffer.hasRemaining()) {
      if (channel.read(buffer) < 0) {
        throw new EOFException("connection closed by the server");
      }
    }
    return buffer.flip();
  }

  private static void writeFully(SocketChannel channel, ByteBuffer... buffers) throws IOException {
    long remaining = 0;
    for (ByteBuffer buffer : buffers) {
      remaining += buffer.remaining();
    }
    while (remaining > 0) {
      remaining -= channel.write(buffers);
    }
  }
}
