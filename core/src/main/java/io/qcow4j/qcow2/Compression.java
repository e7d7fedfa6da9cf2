package io.qcow4j.qcow2;

import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.qcow2.format.Header;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.Supplier;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * Compression and decompression of clusters: raw deflate (zlib type) or zstd frames. The codec
 * contexts are reused: making one per cluster (a zstd context allocates its tables, a deflater
 * its window) cost more than compressing a 64 KiB cluster. So are the direct buffers compressed
 * clusters are read into, and decompression writes into the caller's buffer, heap or direct: a
 * direct buffer made per cluster is freed only by a collection, so the process grew with the
 * image.
 */
final class Compression {
  private static final Contexts<ZstdCompressCtx> ZSTD_COMPRESS = new Contexts<>(ZstdCompressCtx::new);
  /** The system library's contexts ({@link SystemZstd}), which compress when it is there. */
  private static final Contexts<SystemZstd.Context> SYSTEM_ZSTD = new Contexts<>(() -> SystemZstd.INSTANCE.newContext());
  private static final Contexts<SystemZstd.Decoder> SYSTEM_DECODERS =
      new Contexts<>(() -> SystemZstd.decoding().newDecoder());
  private static final Contexts<ZstdDecompressCtx> ZSTD_DECOMPRESS = new Contexts<>(ZstdDecompressCtx::new);
  private static final Contexts<Deflater> DEFLATERS =
      new Contexts<>(() -> new Deflater(Deflater.DEFAULT_COMPRESSION, true));
  private static final Contexts<Inflater> INFLATERS = new Contexts<>(() -> new Inflater(true));
  /** Sized for a 64 KiB cluster, the default, and its compressed descriptor's sector of slack. */
  private static final Contexts<ByteBuffer> INPUTS = new Contexts<>(() -> ByteBuffer.allocateDirect((64 << 10) + 512));

  private Compression() {}

  /**
   * Idle codec contexts, at most {@link #KEPT} (the threads that compress or decompress at once);
   * one taken is used by one thread, then given back in its initial state or dropped.
   */
  private static final class Contexts<T> {
    private static final int KEPT = 32;

    private final Supplier<T> factory;
    private final ConcurrentLinkedQueue<T> idle = new ConcurrentLinkedQueue<>();

    Contexts(Supplier<T> factory) {
      this.factory = factory;
    }

    T take() {
      T context = idle.poll();
      return context != null ? context : factory.get();
    }

    /** Gives back a context that is ready for its next use; returns false when it was not kept. */
    boolean give(T context) {
      if (idle.size() >= KEPT) {
        return false;
      }
      idle.add(context);
      return true;
    }
  }

  /**
   * A direct buffer of at least {@code length} bytes (position 0, limit {@code length}) to read a
   * compressed cluster into: reading into it needs no copy through the JDK's temporary buffer,
   * and both codecs read it in place. Give it back with {@link #giveInput}.
   */
  static ByteBuffer takeInput(int length) {
    ByteBuffer buffer = INPUTS.take();
    if (buffer.capacity() < length) {
      // a larger cluster size than the buffers kept so far: this one is dropped, the new one kept
      buffer = ByteBuffer.allocateDirect(length);
    }
    return buffer.clear().limit(length);
  }

  /** Gives back a buffer from {@link #takeInput}. */
  static void giveInput(ByteBuffer buffer) {
    INPUTS.give(buffer);
  }

  /**
   * Decompresses {@code compressed} (which may carry trailing padding) into exactly one cluster,
   * {@code cluster.remaining()} bytes, heap or direct, without a buffer of its own; {@code name}
   * and {@code hostOffset} name the compressed cluster in errors.
   */
  static void decompress(int compressionType, ByteBuffer compressed, ByteBuffer cluster, String name,
      long hostOffset) throws CorruptImageException {
    if (compressionType == Header.COMPRESSION_ZSTD) {
      inflateZstd(compressed, cluster, name, hostOffset);
    } else {
      inflateDeflate(compressed, cluster, name, hostOffset);
    }
  }

  private static String where(String name, long hostOffset) {
    return String.format("%s: compressed cluster at host offset 0x%x", name, hostOffset);
  }

  /**
   * Compresses one cluster; null when the result would not be smaller than the cluster by at least
   * one byte (QEMU then writes the cluster uncompressed).
   */
  static byte[] compress(int compressionType, ByteBuffer cluster) {
    int limit = cluster.remaining() - 1;
    if (compressionType == Header.COMPRESSION_ZSTD && SystemZstd.INSTANCE != null) {
      SystemZstd.Context context = SYSTEM_ZSTD.take();
      boolean kept = false;
      try {
        byte[] output = context.compress(cluster, limit);
        kept = SYSTEM_ZSTD.give(context);
        return output;
      } finally {
        if (!kept) {
          context.close();
        }
      }
    }
    if (compressionType == Header.COMPRESSION_ZSTD) {
      byte[] input = new byte[cluster.remaining()];
      cluster.duplicate().get(input);
      ZstdCompressCtx context = ZSTD_COMPRESS.take();
      boolean kept = false;
      try {
        // each call is one whole frame (ZSTD_e_end), the context's parameters stay the defaults
        byte[] output = context.compress(input);
        kept = ZSTD_COMPRESS.give(context);
        return output.length <= limit ? output : null;
      } finally {
        if (!kept) {
          context.close();
        }
      }
    }
    Deflater deflater = DEFLATERS.take();
    boolean kept = false;
    try {
      deflater.setInput(cluster.duplicate());
      deflater.finish();
      byte[] output = new byte[limit];
      int length = 0;
      while (!deflater.finished() && length < limit) {
        length += deflater.deflate(output, length, limit - length);
      }
      byte[] result = deflater.finished() ? Arrays.copyOf(output, length) : null;
      deflater.reset();
      kept = DEFLATERS.give(deflater);
      return result;
    } finally {
      if (!kept) {
        deflater.end();
      }
    }
  }

  private static void inflateDeflate(ByteBuffer compressed, ByteBuffer cluster, String name, long hostOffset)
      throws CorruptImageException {
    Inflater inflater = INFLATERS.take();
    boolean kept = false;
    try {
      inflater.setInput(compressed);
      while (cluster.hasRemaining()) {
        int count = inflater.inflate(cluster);
        if (count == 0 && (inflater.finished() || inflater.needsInput() || inflater.needsDictionary())) {
          break;
        }
      }
      inflater.reset();
      kept = INFLATERS.give(inflater);
    } catch (DataFormatException e) {
      throw new CorruptImageException(where(name, hostOffset) + ": compressed cluster does not inflate: "
          + e.getMessage(), e);
    } finally {
      if (!kept) {
        inflater.end();
      }
    }
    if (cluster.hasRemaining()) {
      throw new CorruptImageException(where(name, hostOffset) + ": compressed cluster inflates to "
          + cluster.position() + " bytes, less than a cluster");
    }
  }

  private static void inflateZstd(ByteBuffer compressed, ByteBuffer cluster, String name, long hostOffset)
      throws CorruptImageException {
    int start = cluster.position();
    SystemZstd.Decoding decoding = SystemZstd.decoding();
    if (decoding != null) {
      SystemZstd.Decoder decoder = SYSTEM_DECODERS.take();
      boolean kept = false;
      try {
        decoder.decompress(compressed, cluster);
        kept = SYSTEM_DECODERS.give(decoder);
      } catch (SystemZstd.InvalidFrameException e) {
        throw new CorruptImageException(where(name, hostOffset) + ": compressed cluster is not valid zstd: "
            + e.getMessage(), e);
      } finally {
        if (!kept) {
          decoder.close();
        }
      }
      if (cluster.hasRemaining()) {
        throw new CorruptImageException(where(name, hostOffset) + ": compressed cluster decompresses to "
            + (cluster.position() - start) + " bytes, less than a cluster");
      }
      return;
    }
    ZstdDecompressCtx context = ZSTD_DECOMPRESS.take();
    boolean kept = false;
    try {
      // streaming, as QEMU decompresses: the frame ends where the cluster is full, and what
      // follows it in the file (padding, the next cluster) is never read as a frame
      while (cluster.hasRemaining() && compressed.hasRemaining()) {
        int before = cluster.position() + compressed.position();
        context.decompressByteBufferStream(cluster, compressed);
        if (cluster.position() + compressed.position() == before) {
          break;
        }
      }
      // a frame left unfinished (the cluster full first) must not carry into the next cluster's
      context.reset();
      kept = ZSTD_DECOMPRESS.give(context);
    } catch (ZstdException e) {
      throw new CorruptImageException(where(name, hostOffset) + ": compressed cluster is not valid zstd: "
          + e.getMessage(), e);
    } finally {
      if (!kept) {
        context.close();
      }
    }
    if (cluster.hasRemaining()) {
      throw new CorruptImageException(where(name, hostOffset) + ": compressed cluster decompresses to "
          + (cluster.position() - start) + " bytes, less than a cluster");
    }
  }
}
