package io.qcow4j.crypto;

import java.security.DigestException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;

/**
 * The LUKS anti-forensic splitter (AFsplit and AFmerge of the LUKS1 on-disk format): a key spread
 * over {@code stripes} blocks, every one needed to get it back, joined by the hash diffusion.
 */
public final class AntiForensic {
  private AntiForensic() {}

  /** Splits {@code key} into {@code stripes} blocks of its length, all but the last random. */
  public static byte[] split(HashAlgorithm hash, byte[] key, int stripes, SecureRandom random) {
    int blockLength = key.length;
    byte[] material = new byte[Math.multiplyExact(blockLength, stripes)];
    byte[] block = new byte[blockLength];
    Diffuser diffuser = new Diffuser(hash);
    byte[] stripe = new byte[blockLength];
    for (int i = 0; i < stripes - 1; i++) {
      random.nextBytes(stripe);
      System.arraycopy(stripe, 0, material, i * blockLength, blockLength);
      for (int j = 0; j < blockLength; j++) {
        block[j] ^= stripe[j];
      }
      diffuser.diffuse(block);
    }
    int last = (stripes - 1) * blockLength;
    for (int j = 0; j < blockLength; j++) {
      material[last + j] = (byte) (key[j] ^ block[j]);
    }
    Arrays.fill(block, (byte) 0);
    Arrays.fill(stripe, (byte) 0);
    return material;
  }

  /** Joins the {@code stripes} blocks of {@code keyLength} bytes in {@code material} into the key. */
  public static byte[] merge(HashAlgorithm hash, byte[] material, int keyLength, int stripes) {
    if ((long) keyLength * stripes > material.length) {
      throw new IllegalArgumentException("key material of " + material.length + " bytes holds no "
          + stripes + " stripes of " + keyLength + " bytes");
    }
    byte[] block = new byte[keyLength];
    Diffuser diffuser = new Diffuser(hash);
    for (int i = 0; i < stripes - 1; i++) {
      int at = i * keyLength;
      for (int j = 0; j < keyLength; j++) {
        block[j] ^= material[at + j];
      }
      diffuser.diffuse(block);
    }
    int last = (stripes - 1) * keyLength;
    byte[] key = new byte[keyLength];
    for (int j = 0; j < keyLength; j++) {
      key[j] = (byte) (material[last + j] ^ block[j]);
    }
    Arrays.fill(block, (byte) 0);
    return key;
  }

  /** The diffusion: each digest-sized piece replaced by the hash of its index and itself. */
  private static final class Diffuser {
    private final MessageDigest hash;
    private final byte[] digest;
    private final byte[] counter = new byte[4];

    Diffuser(HashAlgorithm algorithm) {
      this.hash = algorithm.newDigest();
      this.digest = new byte[algorithm.digestLength()];
    }

    void diffuse(byte[] block) {
      int digestLength = digest.length;
      try {
        for (int i = 0, at = 0; at < block.length; i++, at += digestLength) {
          int length = Math.min(digestLength, block.length - at);
          counter[0] = (byte) (i >>> 24);
          counter[1] = (byte) (i >>> 16);
          counter[2] = (byte) (i >>> 8);
          counter[3] = (byte) i;
          hash.update(counter);
          hash.update(block, at, length);
          hash.digest(digest, 0, digestLength);
          System.arraycopy(digest, 0, block, at, length);
        }
      } catch (DigestException e) {
        throw new IllegalStateException("a digest-sized buffer was refused", e);
      }
      Arrays.fill(digest, (byte) 0);
    }
  }
}
