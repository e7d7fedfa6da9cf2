package io.qcow4j.nbd;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One NBD socket (a server's client, or the client's server): buffered big-endian reads for the single reader thread, and whole-message
 * writes serialized under a lock so that replies from concurrent requests never interleave.
 *
 * <p>Threads blocked here are released by {@link #shutdownInput()} or {@link #close()}, never by
 * an interrupt: the request workers of the same connection may be inside {@code FileChannel} calls.
 */
final class Wire implements AutoCloseable {
  private static final int INPUT_BUFFER_BYTES = 64 << 10;

  private final SocketChannel channel;
  private final ByteBuffer input = ByteBuffer.allocateDirect(INPUT_BUFFER_BYTES).flip();
  private final ByteBuffer scratch = ByteBuffer.allocate(8);
  private final ReentrantLock writeLock = new ReentrantLock();
  /** Who is at the other end, for the end-of-stream message: "client" or "server". */
  private final String peer;

  Wire(SocketChannel channel) {
    this(channel, "client");
  }

  Wire(SocketChannel channel, String peer) {
    this.channel = channel;
    this.peer = peer;
  }

  /** Fills {@code dst} from the socket; {@link EOFException} if the peer closes first. */
  void readFully(ByteBuffer dst) throws IOException {
    while (dst.hasRemaining()) {
      if (input.hasRemaining()) {
        int count = Math.min(input.remaining(), dst.remaining());
        ByteBuffer slice = input.slice(input.position(), count);
        dst.put(slice);
        input.position(input.position() + count);
      } else if (dst.remaining() >= INPUT_BUFFER_BYTES) {
        // Large payloads go straight into their buffer: one copy fewer.
        if (channel.read(dst) < 0) {
          throw new EOFException(peer + " closed the connection");
        }
      } else {
        input.clear();
        int count = channel.read(input);
        input.flip();
        if (count < 0) {
          throw new EOFException(peer + " closed the connection");
        }
      }
    }
  }

  /** Reads and drops {@code length} bytes. */
  void skip(long length) throws IOException {
    ByteBuffer sink = ByteBuffer.allocate((int) Math.min(length, 64 << 10));
    long left = length;
    while (left > 0) {
      sink.clear().limit((int) Math.min(left, sink.capacity()));
      readFully(sink);
      left -= sink.limit();
    }
  }

  byte[] readBytes(int length) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(length);
    readFully(buffer);
    return buffer.array();
  }

  long readLong() throws IOException {
    scratch.clear().limit(8);
    readFully(scratch);
    return scratch.getLong(0);
  }

  int readInt() throws IOException {
    scratch.clear().limit(4);
    readFully(scratch);
    return scratch.getInt(0);
  }

  /** Writes every buffer completely as one message; concurrent callers never interleave. */
  void write(ByteBuffer... buffers) throws IOException {
    writeLock.lock();
    try {
      long left = 0;
      for (ByteBuffer buffer : buffers) {
        left += buffer.remaining();
      }
      while (left > 0) {
        left -= channel.write(buffers);
      }
    } finally {
      writeLock.unlock();
    }
  }

  /** Makes the reader see the end of the stream; replies can still be written. */
  void shutdownInput() {
    try {
      channel.shutdownInput();
    } catch (IOException e) {
      // Already closed or reset: the reader stops either way.
    }
  }

  boolean isOpen() {
    return channel.isOpen();
  }

  @Override
  public void close() {
    try {
      channel.close();
    } catch (IOException e) {
      // Nothing left to release.
    }
  }
}
