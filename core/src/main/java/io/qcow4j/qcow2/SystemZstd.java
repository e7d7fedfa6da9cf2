package io.qcow4j.qcow2;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;

/**
 * Cluster compression and decompression by the system's libzstd (the library qemu-img itself
 * uses), bound through two downcalls each way (and two more for errors and frees): zstd-jni binds its whole API when first used, about a quarter of a second of
 * every zstd convert's start. Each cluster is one whole frame with the default parameters
 * (ZSTD_compress2), as zstd-jni's context compresses it. Null {@link #INSTANCE} when the library
 * is missing or older than 1.4, or with {@code -Dqcow4j.zstd.jni=true} (then zstd-jni compresses).
 */
final class SystemZstd {
  /** The binding, or null. */
  static final SystemZstd INSTANCE = load();
  /**
   * ZSTD_compress2, once per cluster: a constant for the JIT, which binds the downcall of a static
   * final handle in the compiled caller; through an instance field every call goes the handle's
   * generic path.
   */
  private static final MethodHandle COMPRESS2 = INSTANCE == null ? null : INSTANCE.compress2;

  private final SymbolLookup library;
  private final MethodHandle createCCtx;
  private final MethodHandle compress2;
  /** ZSTD_freeCCtx, linked when a context is first dropped (rare: idle ones are kept). */
  private volatile MethodHandle freeCCtx;

  private SystemZstd(SymbolLookup library, MethodHandle createCCtx, MethodHandle compress2) {
    this.library = library;
    this.createCCtx = createCCtx;
    this.compress2 = compress2;
  }

  private static SystemZstd load() {
    if (Boolean.getBoolean("qcow4j.zstd.jni")) {
      return null;
    }
    try {
      // ZSTD_compress2 came with 1.4.0: an older library lacks the symbol
      SymbolLookup library = SymbolLookup.libraryLookup("libzstd.so.1", Arena.global());
      Linker linker = Linker.nativeLinker();
      return new SystemZstd(library,
          linker.downcallHandle(library.findOrThrow("ZSTD_createCCtx"), FunctionDescriptor.of(ValueLayout.ADDRESS)),
          linker.downcallHandle(library.findOrThrow("ZSTD_compress2"), FunctionDescriptor.of(ValueLayout.JAVA_LONG,
              ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS,
              ValueLayout.JAVA_LONG)));
    } catch (Throwable e) {
      // no libzstd.so.1 (or no native access): zstd-jni's own copy of the library compresses
      return null;
    }
  }

  /**
   * A compression context of one thread at a time, with native room for a cluster's input and
   * output, grown to the largest cluster it met.
   */
  final class Context {
    private final MemorySegment cctx;
    private MemorySegment input = MemorySegment.NULL;
    private MemorySegment output = MemorySegment.NULL;
    private Arena arena;

    private Context(MemorySegment cctx) {
      this.cctx = cctx;
    }

    /**
     * Compresses the cluster's remaining bytes (position untouched) into one frame; null when the
     * frame would be longer than {@code limit} bytes.
     */
    byte[] compress(ByteBuffer cluster, int limit) {
      int length = cluster.remaining();
      room(length);
      MemorySegment source;
      if (cluster.isDirect()) {
        source = MemorySegment.ofBuffer(cluster);
      } else {
        input.asByteBuffer().put(0, cluster, cluster.position(), length);
        source = input;
      }
      long result;
      try {
        // room for any frame of the input: the result does not depend on a capacity too small
        result = (long) COMPRESS2.invokeExact(cctx, output, output.byteSize(), source, (long) length);
      } catch (RuntimeException | Error e) {
        throw e;
      } catch (Throwable e) {
        throw new IllegalStateException(e);
      }
      if (result < 0) {
        // an error code (size_t from -1 down, ZSTD_isError): no frame is that long
        throw new IllegalStateException("zstd compression of a " + length + "-byte cluster failed (code " + result + ")");
      }
      if (result > limit) {
        return null;
      }
      byte[] compressed = new byte[(int) result];
      MemorySegment.copy(output, ValueLayout.JAVA_BYTE, 0, compressed, 0, compressed.length);
      return compressed;
    }

    private void room(int length) {
      if (input.byteSize() >= length) {
        return;
      }
      if (arena != null) {
        arena.close();
      }
      arena = Arena.ofShared();
      input = arena.allocate(length, 4096);
      // zstd's compress bound: the input, a frame header, a block header per 128 KiB, and slack
      output = arena.allocate(length + (length >>> 7) + 1024, 4096);
    }

    /** Frees the context and its buffers. */
    void close() {
      try {
        MethodHandle free = freeCCtx;
        if (free == null) {
          free = Linker.nativeLinker().downcallHandle(library.findOrThrow("ZSTD_freeCCtx"),
              FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
          freeCCtx = free;
        }
        long ignored = (long) free.invokeExact(cctx);
      } catch (Throwable e) {
        // nothing to give back then
      }
      if (arena != null) {
        arena.close();
      }
    }
  }

  /**
   * The decompression side, linked on first use (a convert -c never needs it): null when the
   * library lacks it (then zstd-jni decompresses).
   */
  static Decoding decoding() {
    return INSTANCE == null ? null : Decoding.LINKED;
  }

  /** ZSTD_decompressStream and what it needs, bound once. */
  static final class Decoding {
    static final Decoding LINKED = link();
    /** ZSTD_reset_session_only. */
    private static final int RESET_SESSION_ONLY = 1;

    private final MethodHandle createDCtx;
    private final MethodHandle decompressStream;
    private final MethodHandle reset;
    private final MethodHandle errorName;
    private final MethodHandle free;

    private Decoding(MethodHandle createDCtx, MethodHandle decompressStream, MethodHandle reset,
        MethodHandle errorName, MethodHandle free) {
      this.createDCtx = createDCtx;
      this.decompressStream = decompressStream;
      this.reset = reset;
      this.errorName = errorName;
      this.free = free;
    }

    private static Decoding link() {
      try {
        SymbolLookup library = INSTANCE.library;
        Linker linker = Linker.nativeLinker();
        return new Decoding(
            linker.downcallHandle(library.findOrThrow("ZSTD_createDCtx"), FunctionDescriptor.of(ValueLayout.ADDRESS)),
            linker.downcallHandle(library.findOrThrow("ZSTD_decompressStream"), FunctionDescriptor.of(
                ValueLayout.JAVA_LONG, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS)),
            linker.downcallHandle(library.findOrThrow("ZSTD_DCtx_reset"),
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.ADDRESS, ValueLayout.JAVA_INT)),
            linker.downcallHandle(library.findOrThrow("ZSTD_getErrorName"),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG)),
            linker.downcallHandle(library.findOrThrow("ZSTD_freeDCtx"),
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.ADDRESS)));
      } catch (Throwable e) {
        return null;
      }
    }

    /** A new decompression context (one thread at a time). */
    Decoder newDecoder() {
      try {
        MemorySegment dctx = (MemorySegment) createDCtx.invokeExact();
        if (dctx.equals(MemorySegment.NULL)) {
          throw new OutOfMemoryError("ZSTD_createDCtx");
        }
        return new Decoder(this, dctx);
      } catch (RuntimeException | Error e) {
        throw e;
      } catch (Throwable e) {
        throw new IllegalStateException(e);
      }
    }
  }

  /** Thrown by {@link Decoder#decompress} for input that is not valid zstd: zstd's error name. */
  static final class InvalidFrameException extends Exception {
    private static final long serialVersionUID = 1L;

    InvalidFrameException(String message) {
      super(message);
    }
  }

  /**
   * A decompression context with its in and out buffer structs (ZSTD_inBuffer, ZSTD_outBuffer:
   * pointer, size, position) and native room for heap buffers.
   */
  static final class Decoder {
    private final Decoding decoding;
    private final MemorySegment dctx;
    private final MemorySegment buffers = Arena.global().allocate(48, 8);
    private MemorySegment room = MemorySegment.NULL;

    private Decoder(Decoding decoding, MemorySegment dctx) {
      this.decoding = decoding;
      this.dctx = dctx;
    }

    /**
     * As zstd-jni's stream decompression of a cluster: ZSTD_decompressStream into what remains of
     * {@code cluster} from what remains of {@code compressed}, again while both have room and a
     * call makes progress (a frame ends where the cluster is full; what follows it is read as a
     * next frame only while the cluster has room), both positions moved; then the session reset,
     * so an unfinished frame does not carry into the next cluster.
     */
    void decompress(ByteBuffer compressed, ByteBuffer cluster) throws InvalidFrameException {
      int inLength = compressed.remaining();
      int outLength = cluster.remaining();
      int needed = (compressed.isDirect() ? 0 : inLength) + (cluster.isDirect() ? 0 : outLength);
      if (room.byteSize() < needed) {
        room = Arena.ofAuto().allocate(needed, 4096);
      }
      MemorySegment in;
      if (compressed.isDirect()) {
        in = MemorySegment.ofBuffer(compressed);
      } else {
        in = room.asSlice(0, inLength);
        MemorySegment.copy(MemorySegment.ofBuffer(compressed), 0, in, 0, inLength);
      }
      MemorySegment out = cluster.isDirect() ? MemorySegment.ofBuffer(cluster)
          : room.asSlice(compressed.isDirect() ? 0 : inLength, outLength);
      long inPos = 0;
      long outPos = 0;
      try {
        buffers.set(ValueLayout.ADDRESS, 0, in);
        buffers.set(ValueLayout.JAVA_LONG, 8, inLength);
        buffers.set(ValueLayout.JAVA_LONG, 16, 0);
        buffers.set(ValueLayout.ADDRESS, 24, out);
        buffers.set(ValueLayout.JAVA_LONG, 32, outLength);
        buffers.set(ValueLayout.JAVA_LONG, 40, 0);
        try {
          while (inPos < inLength && outPos < outLength) {
            long result = (long) decoding.decompressStream.invokeExact(dctx, buffers.asSlice(24, 24),
                buffers.asSlice(0, 24));
            if (result < 0) {
              // an error code (ZSTD_isError): its name, as zstd-jni's exception carries it
              MemorySegment name = (MemorySegment) decoding.errorName.invokeExact(result);
              throw new InvalidFrameException(name.reinterpret(256).getString(0));
            }
            long nextIn = buffers.get(ValueLayout.JAVA_LONG, 16);
            long nextOut = buffers.get(ValueLayout.JAVA_LONG, 40);
            if (nextIn == inPos && nextOut == outPos) {
              break;
            }
            inPos = nextIn;
            outPos = nextOut;
          }
        } finally {
          long ignored = (long) decoding.reset.invokeExact(dctx, Decoding.RESET_SESSION_ONLY);
        }
      } catch (InvalidFrameException | RuntimeException | Error e) {
        throw e;
      } catch (Throwable e) {
        throw new IllegalStateException(e);
      }
      if (!cluster.isDirect()) {
        MemorySegment.copy(out, 0, MemorySegment.ofBuffer(cluster), 0, outPos);
      }
      compressed.position(compressed.position() + (int) inPos);
      cluster.position(cluster.position() + (int) outPos);
    }

    /** Frees the context. */
    void close() {
      try {
        long ignored = (long) decoding.free.invokeExact(dctx);
      } catch (Throwable e) {
        // nothing to give back then
      }
    }
  }

  /** A new context (not thread-safe: one thread uses it at a time). */
  Context newContext() {
    try {
      MemorySegment cctx = (MemorySegment) createCCtx.invokeExact();
      if (cctx.equals(MemorySegment.NULL)) {
        throw new OutOfMemoryError("ZSTD_createCCtx");
      }
      return new Context(cctx);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable e) {
      throw new IllegalStateException(e);
    }
  }
}
