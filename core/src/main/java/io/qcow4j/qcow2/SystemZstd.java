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
 * Cluster compression by the system's libzstd (the library qemu-img itself uses), bound through
 * two downcalls: zstd-jni binds its whole API when first used, about a quarter of a second of
 * every zstd convert's start. Each cluster is one whole frame with the default parameters
 * (ZSTD_compress2), as zstd-jni's context compresses it. Null {@link #INSTANCE} when the library
 * is missing or older than 1.4, or with {@code -Dqcow4j.zstd.jni=true} (then zstd-jni compresses).
 */
final class SystemZstd {
  /** The binding, or null. */
  static final SystemZstd INSTANCE = load();

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
        result = (long) compress2.invokeExact(cctx, output, output.byteSize(), source, (long) length);
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
