package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageInfo;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The copy of qemu-img commit as QEMU 7.2 makes it, an active commit being a mirror job
 * (block/mirror.c): the base is cut in chunks of the job's granularity (the base's cluster size,
 * kept between 4 KiB and 64 KiB); a chunk is copied when a layer above decides any of it. At each
 * copied offset the whole chain's status says how: a run without data of at least one chunk that
 * covers whole clusters of the base is zeroed there (with unmap) or discarded, anything else is read
 * through the chain and written as data, one chunk at least. So zeroed clusters of the image leave
 * the base's clusters unallocated or zero, never allocated.
 */
final class CommitMirror {
  /** The most one data copy moves (the mirror's MAX_IO_BYTES). */
  private static final int MAX_IO_BYTES = 1 << 20;

  private final LayersAbove layers;
  private final long size;
  private final DiskFile base;
  private final long granularity;
  private final long baseClusterSize;
  private final ByteBuffer buffer = ByteBuffer.allocate(MAX_IO_BYTES);

  private CommitMirror(LayersAbove layers, long size, DiskFile base) throws IOException {
    this.layers = layers;
    this.size = size;
    this.base = base;
    ImageInfo.Qcow2Info qcow2 = base.info().qcow2();
    this.baseClusterSize = qcow2 == null ? 0 : qcow2.clusterSize();
    // bdrv_get_default_bitmap_granularity: the cluster size where the base has one, else 64 KiB.
    this.granularity = qcow2 == null ? 65536 : Math.min(65536, Math.max(4096, qcow2.clusterSize()));
  }

  /** Writes what the layers above decide into {@code base}, grown first to {@code size} when shorter. */
  static void copy(LayersAbove layers, long size, DiskFile base, ImageConvert.Progress progress) throws IOException {
    if (base.size() < size) {
      base.resize(size);
    }
    new CommitMirror(layers, size, base).run(progress);
  }

  private void run(ImageConvert.Progress progress) throws IOException {
    progress.update(0, size);
    long offset = 0;
    while (true) {
      long decided = nextDecided(offset);
      if (decided >= size) {
        break;
      }
      offset = decided - decided % granularity;
      long runEnd = offset + granularity;
      while (runEnd < size && nextDecided(runEnd) < runEnd + granularity) {
        runEnd += granularity;
      }
      while (offset < runEnd && offset < size) {
        offset += step(offset, Math.min(runEnd, size));
        progress.update(Math.min(offset, size), size);
      }
      offset = runEnd;
    }
    progress.update(size, size);
  }

  /** One mirror operation at the chunk-aligned {@code offset} of a run of copied chunks ending at {@code runEnd}. */
  private long step(long offset, long runEnd) throws IOException {
    Extent status = chainStatus(offset, runEnd - offset);
    long ioBytes = status.data() ? Math.min(status.length(), MAX_IO_BYTES) : status.length();
    ioBytes -= ioBytes % granularity;
    long length;
    if (ioBytes < granularity) {
      ioBytes = granularity;
      length = Math.min(ioBytes, size - offset);
      copyData(offset, length);
    } else if (!status.data() && wholeBaseClusters(offset, ioBytes)) {
      length = Math.min(ioBytes, size - offset);
      if (status.zero()) {
        base.writeZeroesUnmap(offset, length);
      } else {
        base.discard(offset, length);
      }
    } else {
      length = Math.min(ioBytes, size - offset);
      for (long done = 0; done < length; done += MAX_IO_BYTES) {
        copyData(offset + done, Math.min(MAX_IO_BYTES, length - done));
      }
    }
    return ioBytes;
  }

  /** bdrv_round_to_clusters leaves the range as it is: whole clusters of the base (any range of a raw one). */
  private boolean wholeBaseClusters(long offset, long length) {
    return baseClusterSize == 0 || (offset % baseClusterSize == 0 && length % baseClusterSize == 0);
  }

  /** The first offset at or after {@code from} that a layer above decides; {@code size} when none. */
  private long nextDecided(long from) throws IOException {
    long offset = from;
    while (offset < size) {
      LayersAbove.Piece piece = layers.status(offset, size - offset);
      if (piece.decidedAbove()) {
        return offset;
      }
      offset += piece.length();
    }
    return size;
  }

  /** The status of the whole chain (the layers above, then the base) at {@code offset}. */
  private Extent chainStatus(long offset, long maxLength) throws IOException {
    LayersAbove.Piece piece = layers.status(offset, maxLength);
    if (!piece.decidedAbove()) {
      return base.blockStatus(offset, piece.length());
    }
    return new Extent(offset, piece.length(), 0, true, piece.zero(), piece.data(), false, -1, null);
  }

  /** Reads [offset, offset + length) through the chain and writes it into the base as data. */
  private void copyData(long offset, long length) throws IOException {
    buffer.clear().limit((int) length);
    long cursor = offset;
    while (cursor < offset + length) {
      LayersAbove.Piece piece = layers.status(cursor, offset + length - cursor);
      int pieceLength = (int) piece.length();
      ByteBuffer part = buffer.slice(buffer.position(), pieceLength);
      if (!piece.decidedAbove()) {
        base.readFully(part, cursor);
      } else if (piece.zero() && !piece.data()) {
        part.put(new byte[pieceLength]);
      } else {
        layers.read(piece.layer(), part, cursor);
      }
      buffer.position(buffer.position() + pieceLength);
      cursor += pieceLength;
    }
    buffer.flip();
    base.writeFully(buffer, offset);
  }
}
