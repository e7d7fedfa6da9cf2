package io.qcow4j.crypto;

import java.util.Arrays;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * The sector ciphers of one unlocked volume, for any number of threads: each call takes an idle
 * {@link SectorCipher} (or makes one) and gives it back, as QEMU pops and pushes its ciphers.
 */
public final class SectorCiphers implements AutoCloseable {
  private final CipherSpec spec;
  private final byte[] key;
  private final ConcurrentLinkedQueue<SectorCipher> idle = new ConcurrentLinkedQueue<>();

  /** Ciphers for {@code spec} under a copy of {@code masterKey}. */
  public SectorCiphers(CipherSpec spec, byte[] masterKey) throws CryptoException {
    this.spec = spec;
    this.key = masterKey.clone();
    idle.add(new SectorCipher(spec, key));
  }

  /** Encrypts whole sectors in place; {@code firstSector} is the IV number of the first. */
  public void encrypt(byte[] data, int offset, int length, long firstSector) {
    SectorCipher cipher = take();
    try {
      cipher.encrypt(data, offset, length, firstSector);
    } finally {
      idle.add(cipher);
    }
  }

  /** Decrypts whole sectors in place; {@code firstSector} is the IV number of the first. */
  public void decrypt(byte[] data, int offset, int length, long firstSector) {
    SectorCipher cipher = take();
    try {
      cipher.decrypt(data, offset, length, firstSector);
    } finally {
      idle.add(cipher);
    }
  }

  /** A copy of the master key, which the caller must clear (to store it in another key slot). */
  public byte[] masterKey() {
    return key.clone();
  }

  private SectorCipher take() {
    SectorCipher cipher = idle.poll();
    if (cipher != null) {
      return cipher;
    }
    try {
      return new SectorCipher(spec, key);
    } catch (CryptoException e) {
      throw new IllegalStateException("a cipher that was made once cannot be made again", e);
    }
  }

  /** Clears the key copy and the idle ciphers' buffers. */
  @Override
  public void close() {
    Arrays.fill(key, (byte) 0);
    SectorCipher cipher;
    while ((cipher = idle.poll()) != null) {
      cipher.destroy();
    }
  }
}
