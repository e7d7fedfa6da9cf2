package io.qcow4j.nbd;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Direct buffers for request payloads, reused across requests: file and socket channels then move
 * bytes without the copy through a temporary direct buffer that heap buffers cost, and a busy
 * server does not allocate (and zero) a fresh buffer per request.
 *
 * <p>Buffers come in power-of-two classes from 4 KiB to the payload limit; at most
 * {@code maxPooledBytes} wait in the pool, the rest is left to the garbage collector.
 */
final class BufferPool {
  private static final int MIN_CLASS_BITS = 12;
  private static final int MAX_CLASS_BITS = Integer.numberOfTrailingZeros(Protocol.MAX_PAYLOAD);

  private final List<ConcurrentLinkedQueue<ByteBuffer>> classes = new ArrayList<>();
  private final AtomicLong pooledBytes = new AtomicLong();
  private final long maxPooledBytes;

  BufferPool(long maxPooledBytes) {
    this.maxPooledBytes = maxPooledBytes;
    for (int bits = MIN_CLASS_BITS; bits <= MAX_CLASS_BITS; bits++) {
      classes.add(new ConcurrentLinkedQueue<>());
    }
  }

  /** A buffer with position 0 and limit {@code length}; its content is undefined. */
  ByteBuffer acquire(int length) {
    if (length > Protocol.MAX_PAYLOAD) {
      throw new IllegalArgumentException("buffer of " + length + " bytes exceeds the payload limit");
    }
    int classIndex = classIndex(length);
    ByteBuffer buffer = classes.get(classIndex).poll();
    if (buffer == null) {
      buffer = ByteBuffer.allocateDirect(1 << (classIndex + MIN_CLASS_BITS));
    } else {
      pooledBytes.addAndGet(-buffer.capacity());
    }
    return buffer.clear().limit(length);
  }

  /** Gives a buffer from {@link #acquire} back; nothing may use it afterwards. */
  void release(ByteBuffer buffer) {
    if (buffer == null) {
      return;
    }
    if (pooledBytes.addAndGet(buffer.capacity()) > maxPooledBytes) {
      pooledBytes.addAndGet(-buffer.capacity());
      return;
    }
    classes.get(classIndex(buffer.capacity())).offer(buffer);
  }

  private static int classIndex(int length) {
    int bits = length <= 1 ? 0 : 32 - Integer.numberOfLeadingZeros(length - 1);
    return Math.max(bits, MIN_CLASS_BITS) - MIN_CLASS_BITS;
  }
}
