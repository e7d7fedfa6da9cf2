package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.qcow2.QcowFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The writing requests of qemu-io (write, write -z, -u, -n, -c, -f, writev, discard) as QEMU's
 * block layer carries them out on a raw or qcow2 image: the range checked against the disk, zeros
 * written as zero flags or unmapped where asked, compressed clusters where allowed, discards cut to
 * whole clusters. A request the block layer refuses fails with {@link RequestException} and the
 * errno QEMU returns.
 */
public final class ImageWrites {
  /** How much of a write is generated and written at once. */
  private static final int WRITE_CHUNK_BYTES = 1 << 20;

  private ImageWrites() {}

  /** A request refused as QEMU refuses it; {@link Errno} says with which error. */
  public static final class RequestException extends IOException {
    private static final long serialVersionUID = 1L;

    /** The errno QEMU returns, with strerror's text. */
    public enum Errno {
      /** An I/O error: a range outside the disk, a compressed write over allocated data. */
      EIO(-5, "Input/output error"),
      /** An invalid argument: a compressed write not aligned to clusters. */
      EINVAL(-22, "Invalid argument"),
      /** Not supported on this image. */
      ENOTSUP(-95, "Operation not supported");

      private final int code;
      private final String text;

      Errno(int code, String text) {
        this.code = code;
        this.text = text;
      }

      /** The negative errno value. */
      public int code() {
        return code;
      }

      /** strerror's text. */
      public String text() {
        return text;
      }
    }

    private final Errno errno;

    RequestException(Errno errno) {
      super(errno.text());
      this.errno = errno;
    }

    /** The error QEMU returns for this request. */
    public Errno errno() {
      return errno;
    }
  }

  /** What a write puts in its range: {@code length} bytes at {@code positionInWrite} into {@code chunk}. */
  @FunctionalInterface
  public interface Content {
    /** Fills the first {@code length} bytes of {@code chunk} with the content at {@code positionInWrite}. */
    void fill(byte[] chunk, int length, long positionInWrite);

    /** Every byte {@code pattern} (qemu-io's -P, 0xcd by default). */
    static Content pattern(int pattern) {
      return (chunk, length, position) -> Arrays.fill(chunk, 0, length, (byte) pattern);
    }

    /** {@code source} repeated from the start of the write (qemu-io's -s). */
    static Content repeating(byte[] source) {
      byte[] copy = source.clone();
      return (chunk, length, position) -> {
        for (int i = 0; i < length; i++) {
          chunk[i] = copy[(int) ((position + i) % copy.length)];
        }
      };
    }
  }

  /** Writes {@code content} over the range; {@code fua} forces it to the file before returning. */
  public static void write(DiskFile disk, long offset, long count, Content content, boolean fua) throws IOException {
    checkRange(disk, offset, count);
    byte[] chunk = new byte[(int) Math.min(WRITE_CHUNK_BYTES, Math.max(count, 1))];
    long done = 0;
    while (done < count) {
      int length = (int) Math.min(chunk.length, count - done);
      content.fill(chunk, length, done);
      disk.writeFully(ByteBuffer.wrap(chunk, 0, length), offset + done);
      done += length;
    }
    if (fua) {
      disk.force(false);
    }
  }

  /**
   * Makes the range read as zeros: {@code unmap} lets the image drop its clusters (write -z -u);
   * {@code noFallback} (write -z -n) refuses with ENOTSUP what qcow2 cannot do without writing zero
   * bytes: a version 2 image, or a partial unit that does not read as zeros or maps data (the
   * pieces before it stay zeroed, as in QEMU).
   */
  public static void writeZeroes(DiskFile disk, long offset, long count, boolean unmap, boolean noFallback,
      boolean fua) throws IOException {
    checkRange(disk, offset, count);
    if (noFallback && disk instanceof QcowFile image) {
      zeroPiecesWithoutFallback(image, offset, count, unmap);
    } else if (unmap) {
      disk.writeZeroesUnmap(offset, count);
    } else {
      disk.writeZeroes(offset, count);
    }
    if (fua) {
      disk.force(false);
    }
  }

  /**
   * write -c as qcow2 does it: cluster-aligned requests (a partial last cluster only at the end of
   * the disk), each cluster compressed unless that does not shrink it, never over a cluster the
   * image already allocates (QEMU fails those with EIO), never into an external data file or a raw
   * image (ENOTSUP).
   */
  public static void writeCompressed(DiskFile disk, long offset, long count, Content content) throws IOException {
    checkRange(disk, offset, count);
    if (!(disk instanceof QcowFile image) || image.info().qcow2().dataFile() != null) {
      throw new RequestException(RequestException.Errno.ENOTSUP);
    }
    int clusterSize = image.clusterSize();
    long size = image.size();
    if (offset % clusterSize != 0 || (count % clusterSize != 0 && offset + count != size)) {
      throw new RequestException(RequestException.Errno.EINVAL);
    }
    for (long cluster = offset; cluster < offset + count; cluster += clusterSize) {
      refuseCompressedOverAllocated(image, cluster);
    }
    byte[] buffer = new byte[clusterSize];
    for (long cluster = offset; cluster < offset + count; cluster += clusterSize) {
      int length = (int) Math.min(clusterSize, offset + count - cluster);
      Arrays.fill(buffer, (byte) 0);
      content.fill(buffer, length, cluster - offset);
      byte[] packed = image.compressCluster(ByteBuffer.wrap(buffer));
      if (packed != null) {
        image.writeCompressed(cluster, packed);
      } else {
        image.writeFully(ByteBuffer.wrap(buffer, 0, length), cluster);
      }
    }
  }

  /**
   * Refuses a compressed write into the cluster at {@code cluster} when the image allocates it
   * (data, compressed or zeroed with a host cluster), with QEMU's EIO: compression cannot
   * overwrite anything (qcow2_alloc_compressed_cluster_offset).
   */
  static void refuseCompressedOverAllocated(QcowFile image, long cluster) throws IOException {
    Extent extent = image.blockStatus(cluster, 1);
    if (extent.depth() == 0 && (extent.data() || extent.compressed() || extent.hostOffset() >= 0)) {
      throw new RequestException(RequestException.Errno.EIO);
    }
  }

  /**
   * Discards the range as QEMU's block layer does: checked against the disk, then left to the
   * format (qcow2 discards only whole clusters, {@link DiskFile#discard}).
   */
  public static void discard(DiskFile disk, long offset, long count) throws IOException {
    checkRange(disk, offset, count);
    disk.discard(offset, count);
  }

  /** The block layer's request check: inside the disk, else EIO. */
  private static void checkRange(DiskFile disk, long offset, long count) throws IOException {
    long size = disk.size();
    if (offset < 0 || count < 0 || offset > size || count > size - offset) {
      throw new RequestException(RequestException.Errno.EIO);
    }
  }

  /**
   * write -z -n on qcow2 as QEMU's block layer runs it: ENOTSUP at once on v2 (no zero flag), else
   * the range cut at units (subclusters), each piece zeroed in turn until one cannot be without
   * writing zero bytes (a partial unit whose rest does not read as zeros, or that maps data), which
   * fails with ENOTSUP and leaves the pieces before it zeroed.
   */
  private static void zeroPiecesWithoutFallback(QcowFile image, long offset, long count, boolean unmap)
      throws IOException {
    ImageInfo.Qcow2Info qcow2 = image.info().qcow2();
    if (qcow2.version() < 3) {
      throw new RequestException(RequestException.Errno.ENOTSUP);
    }
    long unitSize = qcow2.extendedL2() ? image.clusterSize() / 32 : image.clusterSize();
    long size = image.size();
    long end = offset + count;
    long cursor = offset;
    while (cursor < end) {
      long pieceEnd;
      if (cursor % unitSize != 0) {
        pieceEnd = Math.min(end, (cursor / unitSize + 1) * unitSize);
      } else if (end - cursor > unitSize && end % unitSize != 0) {
        pieceEnd = end / unitSize * unitSize;
      } else {
        pieceEnd = end;
      }
      long unitStart = cursor / unitSize * unitSize;
      boolean partial = cursor != unitStart || (pieceEnd % unitSize != 0 && pieceEnd != size);
      if (partial) {
        long unitEnd = Math.min(size, unitStart + unitSize);
        if (!readsAsZero(image, unitStart, cursor) || !readsAsZero(image, pieceEnd, unitEnd)
            || mapsData(image, unitStart, unitEnd)) {
          throw new RequestException(RequestException.Errno.ENOTSUP);
        }
      }
      if (unmap) {
        image.writeZeroesUnmap(cursor, pieceEnd - cursor);
      } else {
        image.writeZeroes(cursor, pieceEnd - cursor);
      }
      cursor = pieceEnd;
    }
  }

  /** Whether [from, to) reads as zeros through the chain. */
  private static boolean readsAsZero(DiskFile disk, long from, long to) throws IOException {
    for (long cursor = from; cursor < to; ) {
      Extent extent = disk.blockStatus(cursor, to - cursor);
      if (!extent.zero()) {
        return false;
      }
      cursor = extent.end();
    }
    return true;
  }

  /** Whether the image's own layer maps data (or a compressed cluster) somewhere in [from, to). */
  private static boolean mapsData(DiskFile disk, long from, long to) throws IOException {
    for (long cursor = from; cursor < to; ) {
      Extent extent = disk.blockStatus(cursor, to - cursor);
      if (extent.depth() == 0 && (extent.data() || extent.compressed())) {
        return true;
      }
      cursor = extent.end();
    }
    return false;
  }
}
