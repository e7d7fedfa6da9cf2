package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;

/** Reads a guest range in bounded chunks, as qemu-io's read command does in one request. */
public final class RangeReader {
  /** The largest chunk handed over at once. */
  public static final int CHUNK_BYTES = 1 << 20;

  private RangeReader() {}

  /** Receives the bytes of the range in order: {@code length} bytes of {@code buffer} from guest {@code offset}. */
  @FunctionalInterface
  public interface ChunkSink {
    /** Takes the next {@code length} bytes of {@code buffer}, read at guest {@code offset}. */
    void accept(long offset, byte[] buffer, int length) throws IOException;
  }

  /**
   * Reads {@code length} bytes from {@code offset}; throws {@link EOFException} before reading
   * anything when the range is not inside the disk (qemu's EIO).
   */
  public static void read(DiskFile disk, long offset, long length, ChunkSink sink) throws IOException {
    long size = disk.size();
    if (offset < 0 || length < 0 || offset > size || length > size - offset) {
      throw new EOFException("read of " + length + " bytes at offset " + offset + " is outside the disk ("
          + size + " bytes)");
    }
    byte[] buffer = new byte[(int) Math.min(CHUNK_BYTES, Math.max(length, 1))];
    long done = 0;
    while (done < length) {
      int chunk = (int) Math.min(buffer.length, length - done);
      disk.readFully(ByteBuffer.wrap(buffer, 0, chunk), offset + done);
      sink.accept(offset + done, buffer, chunk);
      done += chunk;
    }
  }

  /** A byte value expected over {@code length} bytes starting {@code offset} bytes into the range read. */
  public record Pattern(byte value, long offset, long length) {}

  /**
   * Reads like {@link #read} and checks {@code pattern} (null: no check) over the bytes read;
   * returns whether every byte it covers equals its value.
   */
  public static boolean readAndCheck(DiskFile disk, long offset, long length, Pattern pattern, ChunkSink sink)
      throws IOException {
    if (pattern != null && (pattern.offset() < 0 || pattern.length() < 0
        || pattern.offset() + pattern.length() > length)) {
      throw new IllegalArgumentException("pattern range exceeds the read range");
    }
    boolean[] matching = {true};
    read(disk, offset, length, (chunkOffset, buffer, chunkLength) -> {
      if (pattern != null && matching[0]) {
        long from = Math.max(chunkOffset, offset + pattern.offset());
        long to = Math.min(chunkOffset + chunkLength, offset + pattern.offset() + pattern.length());
        for (long guest = from; guest < to; guest++) {
          if (buffer[(int) (guest - chunkOffset)] != pattern.value()) {
            matching[0] = false;
            break;
          }
        }
      }
      sink.accept(chunkOffset, buffer, chunkLength);
    });
    return matching[0];
  }
}
