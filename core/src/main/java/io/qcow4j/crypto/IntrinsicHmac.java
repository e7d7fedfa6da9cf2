package io.qcow4j.crypto;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * HMAC for PBKDF2's inner loop on the JDK's own SHA compression, which HotSpot runs on the CPU's
 * SHA instructions, with the padded-key states computed once: two compressions per iteration and
 * no allocation, about three times faster than {@link Hmac}. It reaches into
 * {@code sun.security.provider}, so it works only when java.base opens that package to us
 * ({@code --add-opens java.base/sun.security.provider=ALL-UNNAMED}, as bin/qcow4j passes it);
 * {@link #create} returns null otherwise and the caller falls back to {@link Hmac}.
 */
final class IntrinsicHmac {
  private static final Access SHA1 = Access.find("sun.security.provider.SHA", "sun.security.provider.SHA", false);
  private static final Access SHA224 = Access.find("sun.security.provider.SHA2",
      "sun.security.provider.SHA2$SHA224", false);
  private static final Access SHA256 = Access.find("sun.security.provider.SHA2",
      "sun.security.provider.SHA2$SHA256", false);
  private static final Access SHA384 = Access.find("sun.security.provider.SHA5",
      "sun.security.provider.SHA5$SHA384", true);
  private static final Access SHA512 = Access.find("sun.security.provider.SHA5",
      "sun.security.provider.SHA5$SHA512", true);

  /** How one JDK digest class is reached: its compression and its state field. */
  private record Access(MethodHandle constructor, MethodHandle compress, VarHandle state, boolean longs) {
    static Access find(String declaring, String concrete, boolean longs) {
      try {
        Class<?> base = Class.forName(declaring);
        Class<?> type = Class.forName(concrete);
        MethodHandles.Lookup lookup = MethodHandles.privateLookupIn(base, MethodHandles.lookup());
        MethodHandles.Lookup concreteLookup = MethodHandles.privateLookupIn(type, MethodHandles.lookup());
        MethodHandle constructor = concreteLookup.findConstructor(type, MethodType.methodType(void.class));
        MethodHandle compress = lookup.findVirtual(base, "implCompress",
            MethodType.methodType(void.class, byte[].class, int.class));
        VarHandle state = lookup.findVarHandle(base, "state", longs ? long[].class : int[].class);
        return new Access(constructor, compress, state, longs);
      } catch (ReflectiveOperationException | RuntimeException e) {
        // not opened to us, or another JDK: the portable path is used
        return null;
      }
    }
  }

  private final MethodHandle compress;
  private final int[] intState;
  private final long[] longState;
  private final int[] innerInts;
  private final int[] outerInts;
  private final long[] innerLongs;
  private final long[] outerLongs;
  private final byte[] block;
  private final int length;

  private IntrinsicHmac(Access access, HashAlgorithm algorithm, byte[] key) throws Throwable {
    Object engine = access.constructor().invoke();
    this.compress = access.compress().bindTo(engine);
    this.length = algorithm.digestLength();
    int blockSize = algorithm.blockSize();
    byte[] pad = key.length > blockSize ? algorithm.newDigest().digest(key) : key;
    byte[] inner = Arrays.copyOf(pad, blockSize);
    byte[] outer = Arrays.copyOf(pad, blockSize);
    if (pad != key) {
      Arrays.fill(pad, (byte) 0);
    }
    for (int i = 0; i < blockSize; i++) {
      inner[i] ^= 0x36;
      outer[i] ^= 0x5c;
    }
    if (access.longs()) {
      longState = (long[]) access.state().get(engine);
      intState = null;
      long[] initial = longState.clone();
      compress.invokeExact(inner, 0);
      innerLongs = longState.clone();
      System.arraycopy(initial, 0, longState, 0, initial.length);
      compress.invokeExact(outer, 0);
      outerLongs = longState.clone();
      innerInts = null;
      outerInts = null;
    } else {
      intState = (int[]) access.state().get(engine);
      longState = null;
      int[] initial = intState.clone();
      compress.invokeExact(inner, 0);
      innerInts = intState.clone();
      System.arraycopy(initial, 0, intState, 0, initial.length);
      compress.invokeExact(outer, 0);
      outerInts = intState.clone();
      innerLongs = null;
      outerLongs = null;
    }
    Arrays.fill(inner, (byte) 0);
    Arrays.fill(outer, (byte) 0);
    // the last block of a message of one block plus a digest: the digest, 0x80, zeros, the length
    block = new byte[blockSize];
    block[length] = (byte) 0x80;
    long bits = (long) (blockSize + length) << 3;
    for (int i = 0; i < 8; i++) {
      block[blockSize - 1 - i] = (byte) (bits >>> (8 * i));
    }
  }

  /** The fast HMAC of {@code algorithm} under {@code key}, or null where the JDK's digests cannot be reached. */
  static IntrinsicHmac create(HashAlgorithm algorithm, byte[] key) {
    Access access = switch (algorithm) {
      case SHA1 -> SHA1;
      case SHA224 -> SHA224;
      case SHA256 -> SHA256;
      case SHA384 -> SHA384;
      case SHA512 -> SHA512;
      default -> null;
    };
    if (access == null) {
      return null;
    }
    try {
      return new IntrinsicHmac(access, algorithm, key);
    } catch (Throwable e) {
      return null;
    }
  }

  /** Replaces the first digest-length bytes of {@code value} by their MAC: one PBKDF2 iteration. */
  void macInPlace(byte[] value) {
    byte[] block = this.block;
    System.arraycopy(value, 0, block, 0, length);
    try {
      if (intState != null) {
        System.arraycopy(innerInts, 0, intState, 0, innerInts.length);
        compress.invokeExact(block, 0);
        intsOut(block);
        System.arraycopy(outerInts, 0, intState, 0, outerInts.length);
        compress.invokeExact(block, 0);
      } else {
        System.arraycopy(innerLongs, 0, longState, 0, innerLongs.length);
        compress.invokeExact(block, 0);
        longsOut(block);
        System.arraycopy(outerLongs, 0, longState, 0, outerLongs.length);
        compress.invokeExact(block, 0);
      }
    } catch (Throwable e) {
      throw new IllegalStateException("the JDK's SHA compression failed", e);
    }
    if (intState != null) {
      intsOut(value);
    } else {
      longsOut(value);
    }
  }

  private void intsOut(byte[] out) {
    int[] state = intState;
    for (int i = 0, at = 0; at < length; i++, at += 4) {
      int v = state[i];
      out[at] = (byte) (v >>> 24);
      out[at + 1] = (byte) (v >>> 16);
      out[at + 2] = (byte) (v >>> 8);
      out[at + 3] = (byte) v;
    }
  }

  private void longsOut(byte[] out) {
    long[] state = longState;
    for (int i = 0, at = 0; at < length; i++, at += 8) {
      long v = state[i];
      for (int j = 0; j < 8; j++) {
        out[at + j] = (byte) (v >>> (56 - 8 * j));
      }
    }
  }

  /** Clears the key-dependent states. */
  void destroy() {
    Arrays.fill(block, (byte) 0);
    if (intState != null) {
      Arrays.fill(innerInts, 0);
      Arrays.fill(outerInts, 0);
      Arrays.fill(intState, 0);
    } else {
      Arrays.fill(innerLongs, 0);
      Arrays.fill(outerLongs, 0);
      Arrays.fill(longState, 0);
    }
  }
}
