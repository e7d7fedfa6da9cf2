package io.qcow4j.qcow2;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The remaining bytes of several buffers seen as one byte range, so that a guest range spread over
 * them maps to host I/O by extent (one vectored call per contiguous host extent), not by buffer.
 * The buffers' positions do not move until {@link #consumeAll}.
 */
final class BufferList {
  private final ByteBuffer[] buffers;
  /** Where each buffer's remaining bytes start in the range; one more entry holds the length. */
  private final long[] starts;

  BufferList(ByteBuffer[] buffers) {
    this.buffers = buffers;
    this.starts = new long[buffers.length + 1];
    for (int index = 0; index < buffers.length; index++) {
      starts[index + 1] = starts[index] + buffers[index].remaining();
    }
  }

  long length() {
    return starts[buffers.length];
  }

  /** Independent views of the bytes [from, from + length) of the range, in order. */
  ByteBuffer[] slices(long from, long length) {
    int first = bufferAt(from);
    ByteBuffer[] slices = new ByteBuffer[buffers.length - first];
    int count = 0;
    long cursor = from;
    long end = from + length;
    for (int index = first; index < buffers.length && cursor < end; index++) {
      long bufferEnd = starts[index + 1];
      if (bufferEnd <= cursor) {
        continue;
      }
      int offset = (int) (cursor - starts[index]);
      int sliceLength = (int) (Math.min(end, bufferEnd) - cursor);
      ByteBuffer buffer = buffers[index];
      slices[count++] = buffer.slice(buffer.position() + offset, sliceLength);
      cursor += sliceLength;
    }
    return count == slices.length ? slices : Arrays.copyOf(slices, count);
  }

  /** Copies the bytes [from, from + length) of the range into one new heap buffer, ready to read. */
  ByteBuffer gather(long from, int length) {
    ByteBuffer gathered = ByteBuffer.allocate(length);
    for (ByteBuffer slice : slices(from, length)) {
      gathered.put(slice);
    }
    return gathered.flip();
  }

  /** Moves every buffer's position to its limit (the whole range was transferred). */
  void consumeAll() {
    for (ByteBuffer buffer : buffers) {
      buffer.position(buffer.limit());
    }
  }

  /** Moves the buffers' positions past the first {@code count} bytes of the range. */
  void consume(long count) {
    for (int index = 0; index < buffers.length; index++) {
      long used = Math.min(Math.max(0, count - starts[index]), starts[index + 1] - starts[index]);
      buffers[index].position(buffers[index].position() + (int) used);
    }
  }

  private int bufferAt(long offset) {
    int found = Arrays.binarySearch(starts, offset);
    int index = found >= 0 ? found : -found - 2;
    // Empty buffers share their start with the next one: the first with bytes at the offset.
    while (index < buffers.length - 1 && starts[index + 1] <= offset) {
      index++;
    }
    return Math.max(0, Math.min(index, buffers.length - 1));
  }
}
