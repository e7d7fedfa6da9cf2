package io.qcow4j.vhdx;

import io.qcow4j.disk.ReadOnlyImageException;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A VHDX file with its log replayed in memory: reads see the log's writes over the file's bytes,
 * as they would after a replay, while the file stays as it is (a read-only open may not change
 * it). Host holes are not reported (every byte may be data); nothing can be written.
 */
final class LogOverlayStorage implements Storage {
  private final Storage base;
  /** The log's writes by start offset, never overlapping: the later write wins where two met. */
  private final TreeMap<Long, Piece> pieces = new TreeMap<>();
  private long extendedSize;

  /** Bytes [start, end) of the file: {@code data} from {@code dataOffset}, or zeros when data is null. */
  private record Piece(long start, long end, byte[] data, int dataOffset) {
    Piece from(long newStart) {
      return new Piece(newStart, end, data, data == null ? 0 : (int) (dataOffset + newStart - start));
    }

    Piece until(long newEnd) {
      return new Piece(start, newEnd, data, dataOffset);
    }
  }

  LogOverlayStorage(Storage base) {
    this.base = base;
  }

  /** Lays one of the log's writes over what earlier writes and the file hold there. */
  void put(LogEntry.Write write) {
    long start = write.fileOffset();
    long end = start + write.length();
    if (end == start) {
      return;
    }
    List<Piece> kept = new ArrayList<>();
    Map.Entry<Long, Piece> before = pieces.lowerEntry(start);
    if (before != null && before.getValue().end() > start) {
      Piece piece = pieces.remove(before.getKey());
      kept.add(piece.until(start));
      if (piece.end() > end) {
        kept.add(piece.from(end));
      }
    }
    for (Piece piece : new ArrayList<>(pieces.subMap(start, true, end, false).values())) {
      pieces.remove(piece.start());
      if (piece.end() > end) {
        kept.add(piece.from(end));
      }
    }
    for (Piece piece : kept) {
      pieces.put(piece.start(), piece);
    }
    pieces.put(start, new Piece(start, end, write.data(), 0));
    extendedSize = Math.max(extendedSize, end);
  }

  /** Makes the file at least {@code size} bytes long (a log entry's last_file_offset). */
  void extendTo(long size) {
    extendedSize = Math.max(extendedSize, size);
  }

  /** Whether the log changed anything. */
  boolean changesFile() throws IOException {
    return !pieces.isEmpty() || extendedSize > base.size();
  }

  @Override
  public String name() {
    return base.name();
  }

  @Override
  public boolean isReadOnly() {
    return true;
  }

  @Override
  public long size() throws IOException {
    return Math.max(base.size(), extendedSize);
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    long size = size();
    if (position >= size) {
      return dst.hasRemaining() ? -1 : 0;
    }
    int count = (int) Math.min(dst.remaining(), size - position);
    int start = dst.position();
    int done = 0;
    while (done < count) {
      long at = position + done;
      Map.Entry<Long, Piece> floor = pieces.floorEntry(at);
      int length;
      if (floor != null && floor.getValue().end() > at) {
        Piece piece = floor.getValue();
        length = (int) Math.min(count - done, piece.end() - at);
        if (piece.data() == null) {
          for (int i = 0; i < length; i++) {
            dst.put(start + done + i, (byte) 0);
          }
        } else {
          dst.put(start + done, piece.data(), (int) (piece.dataOffset() + at - piece.start()), length);
        }
      } else {
        Long next = pieces.higherKey(at);
        length = (int) Math.min(count - done, (next == null ? Long.MAX_VALUE : next) - at);
        base.readOrZero(dst.slice(start + done, length), at);
      }
      done += length;
    }
    dst.position(start + count);
    return count;
  }

  @Override
  public void write(ByteBuffer src, long position) throws IOException {
    throw refused();
  }

  @Override
  public void truncate(long newSize) throws IOException {
    throw refused();
  }

  @Override
  public void force(boolean metadata) throws IOException {
    base.force(metadata);
  }

  @Override
  public void punchHole(long position, long length) throws IOException {
    throw refused();
  }

  @Override
  public void zeroRange(long position, long length) throws IOException {
    throw refused();
  }

  @Override
  public void allocate(long position, long length) throws IOException {
    throw refused();
  }

  @Override
  public void close() throws IOException {
    base.close();
  }

  private ReadOnlyImageException refused() {
    return new ReadOnlyImageException(name() + ": the VHDX log is replayed in memory only; the file is read-only");
  }
}
