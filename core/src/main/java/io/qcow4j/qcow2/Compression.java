package io.qcow4j.qcow2;

import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.qcow2.format.Header;
import java.nio.ByteBuffer;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/** Decompression of compressed clusters: raw deflate (zlib type) or zstd frames. */
final class Compression {
  private Compression() {}

  /**
   * Decompresses {@code compressed} (which may carry trailing padding) into exactly one cluster,
   * {@code cluster.remaining()} bytes; {@code where} names the file and offset for errors.
   */
  static void decompress(int compressionType, ByteBuffer compressed, ByteBuffer cluster, String where)
      throws CorruptImageException {
    if (compressionType == Header.COMPRESSION_ZSTD) {
      inflateZstd(compressed, cluster, where);
    } else {
      inflateDeflate(compressed, cluster, where);
    }
  }

  /**
   * Compresses one cluster; null when the result would not be smaller than the cluster by at least
   * one byte (QEMU then writes the cluster uncompressed).
   */
  static byte[] compress(int compressionType, ByteBuffer cluster) {
    int limit = cluster.remaining() - 1;
    if (compressionType == Header.COMPRESSION_ZSTD) {
      byte[] input = new byte[cluster.remaining()];
      cluster.duplicate().get(input);
      try (com.github.luben.zstd.ZstdCompressCtx context = new com.github.luben.zstd.ZstdCompressCtx()) {
        byte[] output = context.compress(input);
        return output.length <= limit ? output : null;
      }
    }
    java.util.zip.Deflater deflater = new java.util.zip.Deflater(java.util.zip.Deflater.DEFAULT_COMPRESSION, true);
    try {
      deflater.setInput(cluster.duplicate());
      deflater.finish();
      byte[] output = new byte[limit];
      int length = 0;
      while (!deflater.finished() && length < limit) {
        length += deflater.deflate(output, length, limit - length);
      }
      return deflater.finished() ? java.util.Arrays.copyOf(output, length) : null;
    } finally {
      deflater.end();
    }
  }

  private static void inflateDeflate(ByteBuffer compressed, ByteBuffer cluster, String where)
      throws CorruptImageException {
    Inflater inflater = new Inflater(true);
    try {
      inflater.setInput(compressed);
      while (cluster.hasRemaining()) {
        int count = inflater.inflate(cluster);
        if (count == 0 && (inflater.finished() || inflater.needsInput() || inflater.needsDictionary())) {
          break;
        }
      }
    } catch (DataFormatException e) {
      throw new CorruptImageException(where + ": compressed cluster does not inflate: " + e.getMessage(), e);
    } finally {
      inflater.end();
    }
    if (cluster.hasRemaining()) {
      throw new CorruptImageException(where + ": compressed cluster inflates to " + cluster.position()
          + " bytes, less than a cluster");
    }
  }

  private static void inflateZstd(ByteBuffer compressed, ByteBuffer cluster, String where)
      throws CorruptImageException {
    ByteBuffer source = direct(compressed);
    ByteBuffer target = cluster.isDirect() ? cluster : ByteBuffer.allocateDirect(cluster.remaining());
    try (ZstdDecompressCtx context = new ZstdDecompressCtx()) {
      while (target.hasRemaining() && source.hasRemaining()) {
        int before = target.position() + source.position();
        context.decompressDirectByteBufferStream(target, source);
        if (target.position() + source.position() == before) {
          break;
        }
      }
    } catch (ZstdException e) {
      throw new CorruptImageException(where + ": compressed cluster is not valid zstd: " + e.getMessage(), e);
    }
    if (target.hasRemaining()) {
      throw new CorruptImageException(where + ": compressed cluster decompresses to " + target.position()
          + " bytes, less than a cluster");
    }
    if (target != cluster) {
      cluster.put(target.flip());
    }
  }

  private static ByteBuffer direct(ByteBuffer buffer) {
    if (buffer.isDirect()) {
      return buffer;
    }
    ByteBuffer copy = ByteBuffer.allocateDirect(buffer.remaining());
    copy.put(buffer.duplicate()).flip();
    return copy;
  }
}
