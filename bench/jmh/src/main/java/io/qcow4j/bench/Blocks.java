package io.qcow4j.bench;

import java.nio.ByteBuffer;
import java.util.SplittableRandom;
import java.util.concurrent.ThreadLocalRandom;

/** The 4 KiB blocks the benchmarks move: their size, a buffer of random bytes, and random block offsets. */
final class Blocks {
  /** The request size of every benchmark. */
  static final int SIZE = 4096;

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
