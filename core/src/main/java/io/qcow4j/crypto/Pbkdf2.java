package io.qcow4j.crypto;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;

/**
 * PBKDF2 (RFC 8018) with HMAC over any {@link HashAlgorithm} qcow4j computes. Each iteration
 * allocates nothing (see {@link Hmac} for its cost); the blocks of a multi-block output run on
 * threads of their own, since they are independent.
 */
public final class Pbkdf2 {
  /** Below this many iterations a second thread costs more than it saves. */
  private static final long PARALLEL_MIN_ITERATIONS = 20_000;

  private Pbkdf2() {}

  /** Fills {@code out} with PBKDF2-HMAC-{@code hash}({@code password}, {@code salt}, {@code iterations}). */
  public static void derive(HashAlgorithm hash, byte[] password, byte[] salt, long iterations, byte[] out) {
    if (iterations < 1) {
      throw new IllegalArgumentException("PBKDF2 iterations must be at least 1: " + iterations);
    }
    int digestLength = hash.digestLength();
    int blocks = (out.length + digestLength - 1) / digestLength;
    if (blocks == 1 || iterations < PARALLEL_MIN_ITERATIONS) {
      for (int block = 1; block <= blocks; block++) {
        deriveBlock(hash, password, salt, iterations, block, out);
      }
      return;
    }
    Thread[] workers = new Thread[blocks - 1];
    RuntimeException[] failure = new RuntimeException[1];
    for (int block = 2; block <= blocks; block++) {
      int index = block;
      workers[block - 2] = Thread.ofPlatform().name("qcow4j-pbkdf2-" + block).daemon().start(() -> {
        try {
          deriveBlock(hash, password, salt, iterations, index, out);
        } catch (RuntimeException e) {
          synchronized (failure) {
            failure[0] = e;
          }
        }
      });
    }
    deriveBlock(hash, password, salt, iterations, 1, out);
    boolean interrupted = false;
    for (Thread worker : workers) {
      while (true) {
        try {
          worker.join();
          break;
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    synchronized (failure) {
      if (failure[0] != null) {
        throw failure[0];
      }
    }
  }

  /** Writes output block {@code index} (from 1) into its place in {@code out}. */
  private static void deriveBlock(HashAlgorithm hash, byte[] password, byte[] salt, long iterations, int index,
      byte[] out) {
    Hmac hmac = new Hmac(hash, password);
    int digestLength = hmac.length();
    byte[] sum = new byte[digestLength];
    byte[] value = new byte[digestLength];
    byte[] counter = {(byte) (index >>> 24), (byte) (index >>> 16), (byte) (index >>> 8), (byte) index};
    hmac.mac(salt, counter, value);
    System.arraycopy(value, 0, sum, 0, digestLength);
    for (long i = 1; i < iterations; i++) {
      hmac.macInPlace(value);
      for (int j = 0; j < digestLength; j++) {
        sum[j] ^= value[j];
      }
    }
    int offset = (index - 1) * digestLength;
    System.arraycopy(sum, 0, out, offset, Math.min(digestLength, out.length - offset));
    Arrays.fill(sum, (byte) 0);
    Arrays.fill(value, (byte) 0);
    hmac.destroy();
  }

  /**
   * How many iterations of PBKDF2-{@code hash} with an output of {@code outLength} bytes take one
   * second of CPU time here, measured as QEMU's qcrypto_pbkdf2_count_iters measures it (from
   * 2^15 iterations up until a run takes over 500 ms). Blocks of the output are counted as if they
   * ran one after the other, as QEMU runs them, so the figure means the same as QEMU's.
   */
  public static long iterationsPerSecond(HashAlgorithm hash, byte[] key, byte[] salt, int outLength) {
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    boolean cpuTime = threads.isCurrentThreadCpuTimeSupported();
    int blocks = (outLength + hash.digestLength() - 1) / hash.digestLength();
    byte[] out = new byte[hash.digestLength()];
    long iterations = 1 << 15;
    long deltaNanos;
    while (true) {
      long start = cpuTime ? threads.getCurrentThreadCpuTime() : System.nanoTime();
      deriveBlock(hash, key, salt, iterations, 1, out);
      long end = cpuTime ? threads.getCurrentThreadCpuTime() : System.nanoTime();
      deltaNanos = Math.max(1, (end - start) * blocks);
      long deltaMillis = deltaNanos / 1_000_000;
      if (deltaMillis > 500) {
        break;
      } else if (deltaMillis < 100) {
        iterations *= 10;
      } else {
        iterations = iterations * 1_000_000_000L / deltaNanos;
      }
    }
    Arrays.fill(out, (byte) 0);
    return iterations * 1_000_000_000L / deltaNanos;
  }
}
