package io.qcow4j.internal.storage;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ReadOnlyBufferException;

/**
 * Positional vectored I/O of a list of buffers as preadv/pwritev calls on a {@link NativeFile}:
 * one call per batch of at most {@link #IOV_MAX} buffers, direct buffers passed by address, heap
 * buffers bounced through native memory, short transfers resumed where they stopped.
 */
final class VectoredTransfer {
  /** Linux's limit on the buffers of one preadv/pwritev. */
  static final int IOV_MAX = 1024;
  /** The most bytes of heap buffers that one call bounces through native memory. */
  static final long BOUNCE_LIMIT = 16L << 20;
  /** The most bytes one Linux read or write call moves (MAX_RW_COUNT). */
  static final long CALL_LIMIT = 0x7ffff000L;

  private VectoredTransfer() {}

  /**
   * Reads into {@code dsts} in order from {@code position} until they are full or the file ends,
   * advancing their positions; the count read, or -1 when something was wanted and nothing read.
   */
  static long read(NativeFile file, ByteBuffer[] dsts, long position) throws IOException {
    checkPosition(position);
    boolean wanted = false;
    for (ByteBuffer dst : dsts) {
      if (dst.isReadOnly()) {
        throw new ReadOnlyBufferException();
      }
      wanted |= dst.hasRemaining();
    }
    long total = 0;
    int first = nextWithRemaining(dsts, 0);
    while (first < dsts.length) {
      try (Arena arena = Arena.ofConfined()) {
        Batch batch = new Batch(arena, dsts, first, false);
        long count = file.preadv(batch.iovecs, batch.size, position + total, arena);
        Reference.reachabilityFence(batch);
        if (count == 0) {
          break;
        }
        batch.complete(count, true);
        total += count;
      }
      first = nextWithRemaining(dsts, first);
    }
    return total == 0 && wanted ? -1 : total;
  }

  /** Writes all of {@code srcs} in order from {@code position}, advancing their positions. */
  static void write(NativeFile file, ByteBuffer[] srcs, long position) throws IOException {
    checkPosition(position);
    long total = 0;
    int first = nextWithRemaining(srcs, 0);
    while (first < srcs.length) {
      try (Arena arena = Arena.ofConfined()) {
        Batch batch = new Batch(arena, srcs, first, true);
        long count = file.pwritev(batch.iovecs, batch.size, position + total, arena);
        Reference.reachabilityFence(batch);
        if (count == 0) {
          throw new IOException(file.name() + ": pwritev at offset " + (position + total) + " wrote nothing");
        }
        batch.complete(count, false);
        total += count;
      }
      first = nextWithRemaining(srcs, first);
    }
  }

  private static void checkPosition(long position) {
    if (position < 0) {
      throw new IllegalArgumentException("Negative position " + position);
    }
  }

  private static int nextWithRemaining(ByteBuffer[] buffers, int from) {
    int index = from;
    while (index < buffers.length && !buffers[index].hasRemaining()) {
      index++;
    }
    return index;
  }

  /** The iovec array of one call: the buffers from {@code first} on, as many as the limits allow. */
  private static final class Batch {
    final MemorySegment iovecs;
    /** The buffer of each iovec. */
    final ByteBuffer[] buffers;
    /** The native memory a heap buffer's bytes go through, or null for a direct buffer. */
    final MemorySegment[] bounces;
    /** The bytes of each buffer in this call, from its position on. */
    final long[] lengths;
    int size;

    Batch(Arena arena, ByteBuffer[] all, int first, boolean copyIn) {
      int most = Math.min(IOV_MAX, all.length - first);
      buffers = new ByteBuffer[most];
      bounces = new MemorySegment[most];
      lengths = new long[most];
      iovecs = arena.allocate(NativeFile.IOVEC, most);
      ByteBuffer slots = NativeFile.fields(iovecs);
      long bytes = 0;
      long bounced = 0;
      for (int index = first; index < all.length && size < most && bytes < CALL_LIMIT; index++) {
        ByteBuffer buffer = all[index];
        if (!buffer.hasRemaining()) {
          continue;
        }
        MemorySegment view = MemorySegment.ofBuffer(buffer);
        long length = Math.min(view.byteSize(), CALL_LIMIT - bytes);
        MemorySegment target = view;
        if (!view.isNative()) {
          length = Math.min(length, BOUNCE_LIMIT - bounced);
          if (length == 0) {
            break;
          }
          target = arena.allocate(length);
          if (copyIn) {
            MemorySegment.copy(view, 0, target, 0, length);
          }
          bounces[size] = target;
          bounced += length;
        }
        long slot = size * NativeFile.IOVEC.byteSize();
        // struct iovec on 64-bit Linux: the address, then the length
        slots.putLong((int) slot, target.address()).putLong((int) slot + 8, length);
        buffers[size] = buffer;
        lengths[size] = length;
        bytes += length;
        size++;
      }
    }

    /** Moves the buffers past the {@code count} bytes transferred, copying bounced reads back. */
    void complete(long count, boolean copyOut) {
      long left = count;
      for (int slot = 0; slot < size && left > 0; slot++) {
        ByteBuffer buffer = buffers[slot];
        int moved = (int) Math.min(left, lengths[slot]);
        if (copyOut && bounces[slot] != null) {
          MemorySegment.copy(bounces[slot], 0, MemorySegment.ofBuffer(buffer), 0, moved);
        }
        buffer.position(buffer.position() + moved);
        left -= moved;
      }
    }
  }
}
