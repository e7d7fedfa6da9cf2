package io.qcow4j.nbd;

import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Direct buffers for request payloads, reused across requests: file and socket channels then move
 * bytes without the copy through a temporary direct buffer that heap buffers cost, and a busy
 * server does not allocate (and zero) a fresh buffer per request.
 *
 * <p>Buffers come in power-of-two classes from 4 KiB to the payload limit. The pool is a budget:
 * at most {@code capacity} bytes of buffers exist at once, lent or kept. When a new buffer would
 * pass it, kept buffers of other classes are freed (at once: each buffer has its own arena, not
 * left to the garbage collector as {@code allocateDirect}'s are), and when every byte is lent the
 * caller waits for a release. A server's memory is then bounded whatever its clients send: four
 * clients writing 32 MiB requests had the JVM refuse direct memory and every connection dropped.
 */
final class BufferPool {
  private static final int MIN_CLASS_BITS = 12;
  private static final int MAX_CLASS_BITS = Integer.numberOfTrailingZeros(Protocol.MAX_PAYLOAD);

  private final long capacity;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition released = lock.newCondition();
  private final List<ArrayDeque<ByteBuffer>> kept = new ArrayList<>();
  /** The arena of every buffer that exists, lent or kept. */
  private final Map<ByteBuffer, Arena> arenas = new IdentityHashMap<>();
  private long allocated;

  /** A pool of at most {@code capacity} bytes, which must hold a buffer of the payload limit. */
  BufferPool(long capacity) {
    if (capacity < Protocol.MAX_PAYLOAD) {
      throw new IllegalArgumentException("a pool of " + capacity + " bytes cannot hold a payload of "
          + Protocol.MAX_PAYLOAD + " bytes");
    }
    this.capacity = capacity;
    for (int bits = MIN_CLASS_BITS; bits <= MAX_CLASS_BITS; bits++) {
      kept.add(new ArrayDeque<>());
    }
  }

  /**
   * A buffer with position 0 and limit {@code length}; its content is undefined. Waits while the
   * pool's bytes are all lent.
   */
  ByteBuffer acquire(int length) {
    if (length > Protocol.MAX_PAYLOAD) {
      throw new IllegalArgumentException("buffer of " + length + " bytes exceeds the payload limit");
    }
    int classIndex = classIndex(length);
    int size = 1 << (classIndex + MIN_CLASS_BITS);
    List<Arena> freed = new ArrayList<>();
    lock.lock();
    try {
      while (true) {
        // the most recently released buffer of the class: its bytes are the likeliest in the CPU's caches
        ByteBuffer buffer = kept.get(classIndex).pollLast();
        if (buffer != null) {
          return buffer.clear().limit(length);
        }
        if (allocated + size <= capacity) {
          allocated += size;
          break;
        }
        if (!freeOne(freed)) {
          released.awaitUninterruptibly();
        }
      }
    } finally {
      lock.unlock();
      freed.forEach(Arena::close);
    }
    return allocate(size).limit(length);
  }

  private ByteBuffer allocate(int size) {
    Arena arena = Arena.ofShared();
    ByteBuffer buffer;
    try {
      buffer = arena.allocate(size, 4096).asByteBuffer();
    } catch (RuntimeException | Error e) {
      arena.close();
      lock.lock();
      try {
        allocated -= size;
        released.signalAll();
      } finally {
        lock.unlock();
      }
      throw e;
    }
    lock.lock();
    try {
      arenas.put(buffer, arena);
    } finally {
      lock.unlock();
    }
    return buffer;
  }

  /** Frees one kept buffer, the largest first; false when none is kept. Under the lock. */
  private boolean freeOne(List<Arena> freed) {
    for (int index = kept.size() - 1; index >= 0; index--) {
      ByteBuffer buffer = kept.get(index).pollFirst();
      if (buffer != null) {
        allocated -= buffer.capacity();
        freed.add(arenas.remove(buffer));
        return true;
      }
    }
    return false;
  }

  /** Gives a buffer from {@link #acquire} back; nothing may use it afterwards. */
  void release(ByteBuffer buffer) {
    if (buffer == null) {
      return;
    }
    lock.lock();
    try {
      kept.get(classIndex(buffer.capacity())).addLast(buffer);
      released.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /** Bytes of the buffers that exist now, lent or kept. */
  long allocatedBytes() {
    lock.lock();
    try {
      return allocated;
    } finally {
      lock.unlock();
    }
  }

  private static int classIndex(int length) {
    int bits = length <= 1 ? 0 : 32 - Integer.numberOfLeadingZeros(length - 1);
    return Math.max(bits, MIN_CLASS_BITS) - MIN_CLASS_BITS;
  }
}
