package io.qcow4j.vmdk;

import io.qcow4j.disk.ClosedImageException;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.internal.Arguments;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * A new streamOptimized VMDK (what OVA packages hold), filled as QEMU 7.2's vmdk driver fills one:
 * the layout of {@link VmdkTarget} with the compressed and markers flags, each 64 KiB grain written
 * once, whole, deflated (zlib) behind its 12-byte grain marker (its first sector and the deflated
 * length), packed one after the other on sector boundaries, its grain table entries pointing at
 * the markers. A grain is kept in memory until all of it was written (or until the image is
 * closed, its unwritten bytes zeros); a grain already in the file cannot be written again, as QEMU
 * refuses it.
 */
final class StreamVmdkTarget implements DiskFile {
  private static final int SECTOR = VmdkTarget.SECTOR;
  private static final int GRAIN = VmdkTarget.GRAIN_SECTORS * SECTOR;
  private static final int MARKER = 12;

  private final Storage storage;
  private final Path path;
  private final long size;
  private final VmdkTarget.Layout layout;
  private final GrainEntries entries;
  private final BitSet dirtyTables = new BitSet();
  /** Grains being filled: their bytes and which of them were written. */
  private final Map<Integer, byte[]> pending = new HashMap<>();
  private final Map<Integer, BitSet> written = new HashMap<>();
  private long nextSector;
  /** Where the last grain written starts in the file (-1 before the first). */
  private long lastGrainStart = -1;
  private boolean closed;

  StreamVmdkTarget(Storage storage, Path path, long size, VmdkTarget.Layout layout) {
    this.storage = storage;
    this.path = path;
    this.size = size;
    this.layout = layout;
    this.entries = new GrainEntries(layout.grains());
    this.nextSector = layout.grainOffset();
  }

  private int grainLength(int grain) {
    return (int) Math.min(GRAIN, size - (long) grain * GRAIN);
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public ImageFormat format() {
    return ImageFormat.VMDK;
  }

  @Override
  public boolean isReadOnly() {
    return false;
  }

  @Override
  public synchronized int read(ByteBuffer dst, long position) throws IOException {
    ensureOpen();
    Arguments.position(name(), position);
    if (position >= size) {
      return dst.hasRemaining() ? -1 : 0;
    }
    int count = (int) Math.min(dst.remaining(), size - position);
    int start = dst.position();
    int done = 0;
    while (done < count) {
      long offset = position + done;
      int grain = (int) (offset / GRAIN);
      int inGrain = (int) (offset % GRAIN);
      int length = Math.min(count - done, GRAIN - inGrain);
      byte[] bytes = pending.get(grain);
      if (bytes == null && entries.get(grain) != 0) {
        bytes = inflate(grain);
      }
      if (bytes == null) {
        bytes = new byte[GRAIN];
      }
      dst.put(start + done, bytes, inGrain, length);
      done += length;
    }
    dst.position(start + count);
    return count;
  }

  private byte[] inflate(int grain) throws IOException {
    long at = Integer.toUnsignedLong(entries.get(grain)) * SECTOR;
    ByteBuffer marker = ByteBuffer.allocate(MARKER).order(ByteOrder.LITTLE_ENDIAN);
    storage.readFully(marker, at);
    int length = marker.getInt(8);
    byte[] compressed = new byte[length];
    storage.readFully(ByteBuffer.wrap(compressed), at + MARKER);
    Inflater inflater = new Inflater();
    try {
      inflater.setInput(compressed);
      byte[] bytes = new byte[GRAIN];
      int filled = 0;
      while (filled < grainLength(grain) && !inflater.finished()) {
        int got = inflater.inflate(bytes, filled, GRAIN - filled);
        if (got == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
          break;
        }
        filled += got;
      }
      return bytes;
    } catch (DataFormatException e) {
      throw new CorruptImageException(name() + ": grain " + grain + " at offset " + at + " does not inflate");
    } finally {
      inflater.end();
    }
  }

  @Override
  public synchronized int write(ByteBuffer src, long position) throws IOException {
    ensureOpen();
    int count = src.remaining();
    Arguments.range(name(), position, count, size);
    int start = src.position();
    int done = 0;
    while (done < count) {
      long offset = position + done;
      int grain = (int) (offset / GRAIN);
      int inGrain = (int) (offset % GRAIN);
      int length = Math.min(count - done, GRAIN - inGrain);
      byte[] bytes = pendingGrain(grain);
      src.get(start + done, bytes, inGrain, length);
      filled(grain, inGrain, length);
      done += length;
    }
    src.position(start + count);
    return count;
  }

  private byte[] pendingGrain(int grain) throws IOException {
    if (entries.get(grain) != 0) {
      // QEMU's message for a second write to a grain of a streamOptimized image
      throw new UnsupportedFeatureException(name() + ": Could not write to allocated cluster for streamOptimized"
          + " (grain " + grain + ")");
    }
    return pending.computeIfAbsent(grain, unused -> new byte[GRAIN]);
  }

  private void filled(int grain, int from, int length) throws IOException {
    BitSet bits = written.computeIfAbsent(grain, unused -> new BitSet(GRAIN));
    bits.set(from, from + length);
    if (bits.cardinality() >= grainLength(grain)) {
      emit(grain);
    }
  }

  /** Deflates the grain and appends it behind its marker, then points its table entry at it. */
  private void emit(int grain) throws IOException {
    byte[] bytes = pending.remove(grain);
    written.remove(grain);
    Deflater deflater = new Deflater();
    byte[] out = new byte[MARKER + GRAIN * 2];
    int length;
    try {
      deflater.setInput(bytes, 0, grainLength(grain));
      deflater.finish();
      length = 0;
      while (!deflater.finished()) {
        length += deflater.deflate(out, MARKER + length, out.length - MARKER - length);
      }
    } finally {
      deflater.end();
    }
    ByteBuffer marker = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
    marker.putLong(0, (long) grain * VmdkTarget.GRAIN_SECTORS);
    marker.putInt(8, length);
    int total = MARKER + length;
    int padded = (total + SECTOR - 1) / SECTOR * SECTOR;
    ByteBuffer sector = ByteBuffer.allocate(padded);
    sector.put(out, 0, total).clear();
    storage.write(sector, nextSector * SECTOR);
    lastGrainStart = nextSector * SECTOR;
    entries.set(grain, (int) nextSector);
    nextSector += padded / SECTOR;
    dirtyTables.set(grain / VmdkTarget.ENTRIES_PER_TABLE);
  }

  /** Zeros: nothing in a grain not yet written (it reads as zeros); zero bytes into a grain being filled. */
  @Override
  public synchronized void writeZeroes(long offset, long length) throws IOException {
    ensureOpen();
    Arguments.range(name(), offset, length, size);
    long done = 0;
    while (done < length) {
      long at = offset + done;
      int grain = (int) (at / GRAIN);
      int inGrain = (int) (at % GRAIN);
      int piece = (int) Math.min(length - done, GRAIN - inGrain);
      if (pending.containsKey(grain)) {
        java.util.Arrays.fill(pending.get(grain), inGrain, inGrain + piece, (byte) 0);
        filled(grain, inGrain, piece);
      } else if (entries.get(grain) != 0) {
        pendingGrain(grain);
      }
      done += piece;
    }
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    writeZeroes(offset, length);
  }

  @Override
  public void allocate(long offset, long length) throws IOException {
    throw new UnsupportedFeatureException(name() + ": a streamOptimized VMDK cannot preallocate");
  }

  @Override
  public void resize(long newSize) throws IOException {
    throw new UnsupportedFeatureException(name() + ": qcow4j cannot resize vmdk images");
  }

  /** Writes the grain tables of the grains in the file; grains still being filled stay in memory until close. */
  @Override
  public synchronized void flush() throws IOException {
    ensureOpen();
    VmdkTarget.writeTables(storage, layout, entries, dirtyTables);
  }

  @Override
  public void force(boolean metadata) throws IOException {
    flush();
    storage.force(metadata);
  }

  @Override
  public synchronized Extent blockStatus(long offset, long maxLength) throws IOException {
    ensureOpen();
    if (offset < 0 || offset >= size || maxLength <= 0) {
      throw new IllegalArgumentException(name() + ": block status at " + offset + " outside the disk (" + size
          + " bytes)");
    }
    int grain = (int) (offset / GRAIN);
    long length = Math.min(Math.min(maxLength, size - offset), GRAIN - offset % GRAIN);
    if (entries.get(grain) == 0 && !pending.containsKey(grain)) {
      return new Extent(offset, length, 0, true, true, false, false, -1, null);
    }
    return new Extent(offset, length, 0, true, false, true, true, -1, null);
  }

  @Override
  public ImageInfo info() {
    return new ImageInfo(path, ImageFormat.VMDK, size, -1, null, null, null, null, GRAIN, false);
  }

  @Override
  public Optional<DiskFile> backing() {
    return Optional.empty();
  }

  @Override
  public List<Path> files() {
    return path == null ? List.of() : List.of(path);
  }

  /** Completes the grains still being filled (their unwritten bytes zeros), in guest order, and writes the tables. */
  @Override
  public synchronized void close() throws IOException {
    if (closed) {
      return;
    }
    try (Storage closing = storage) {
      for (int grain : pending.keySet().stream().sorted().toList()) {
        emit(grain);
      }
      VmdkTarget.writeTables(storage, layout, entries, dirtyTables);
      // QEMU's get_whole_cluster zeroes each new grain's whole cluster before the compressed grain
      // goes at its start (the next grain overwrites the rest): the file ends a grain past the last one
      long end = lastGrainStart + GRAIN;
      if (lastGrainStart >= 0 && storage.size() < end) {
        long from = storage.size();
        storage.write(ByteBuffer.allocate((int) (end - from)), from);
      }
    } finally {
      closed = true;
    }
  }

  private String name() {
    return storage.name();
  }

  private void ensureOpen() throws ClosedImageException {
    if (closed) {
      throw new ClosedImageException(name());
    }
  }
}
