package io.qcow4j.bench;

import java.nio.ByteBuffer;
import java.util.SplittableRandom;
import java.util.concurrent.ThreadLocalRandom;

/** The 4 KiB blocks the benchmarks move: their size, a buffer of random bytes, and random block offsets. */
final class Blocks {
  /** The request size of every benchmark. */
  static final int SIZE = 4096;

  /**
   * The write size that fills the images and files before a benchmark, one 64 KiB cluster each.
   * Linux (6.18, ext4) caches a file in folios as large as the writes that filled it, and a 4 KiB
   * write into a cached 1 MiB folio costs several times one into a 64 KiB folio (15-24k against
   * 50-89k writes/s measured with plain pwrite): filling everything alike keeps the figures about
   * the engine, whatever size the engine's own writes have.
   */
  static final int FILL_CHUNK = 65536;

  private Blocks() {}

  /** A direct buffer of {@code size} random bytes, position 0, limit {@code size}. */
  static ByteBuffer randomDirect(int size, long seed) {
    byte[] bytes = new byte[size];
    new SplittableRandom(seed).nextBytes(bytes);
    return ByteBuffer.allocateDirect(size).put(bytes).flip();
  }

  /** A block-aligned offset below {@code end}, chosen uniformly. */
  static long randomOffset(long end) {
    return ThreadLocalRandom.current().nextLong(end / SIZE) * SIZE;
  }
}
