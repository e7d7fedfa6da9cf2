package io.qcow4j.crypto;

import java.security.GeneralSecurityException;
import java.util.Arrays;
import javax.crypto.Cipher;
import javax.crypto.spec.SecretKeySpec;

/**
 * Encrypts and decrypts whole 512-byte sectors in place as QEMU's block crypto does: each sector's
 * IV from its number, then the cipher in its mode. XTS (IEEE 1619), CBC and CTR are built on the
 * JDK's AES/ECB/NoPadding, which runs on the CPU's AES instructions, so no cipher is initialized
 * per sector and nothing is allocated per sector. Not thread-safe: one instance per thread at a
 * time (see {@link SectorCiphers}).
 */
public final class SectorCipher {
  /** The sector size of every LUKS volume and of qcow2's encryption. */
  public static final int SECTOR_SIZE = 512;
  private static final int BLOCK = 16;

  private final CipherMode mode;
  private final IvGenAlgorithm ivgen;
  private final Cipher encryptor;
  private final Cipher decryptor;
  private final Cipher tweakEncryptor;
  private final Cipher essivEncryptor;
  private final byte[] iv = new byte[BLOCK];
  private final byte[] counter = new byte[BLOCK];
  private final byte[] output = new byte[SECTOR_SIZE];
  private final byte[] scratch = new byte[SECTOR_SIZE];
  private final byte[] tweaks = new byte[SECTOR_SIZE];

  /** A cipher for {@code spec} under {@code key} ({@link CipherSpec#keyLength} bytes). */
  public SectorCipher(CipherSpec spec, byte[] key) throws CryptoException {
    if (!spec.cipher().supported() || !spec.ivgenCipher().supported()) {
      throw new CryptoException("cipher '" + spec.cipher().qemuName() + "' is not supported by qcow4j");
    }
    if (key.length != spec.keyLength()) {
      throw new CryptoException("key of " + key.length + " bytes for a cipher of " + spec.keyLength());
    }
    this.mode = spec.mode();
    this.ivgen = spec.ivgen();
    int half = spec.cipher().keyLength();
    try {
      SecretKeySpec dataKey = new SecretKeySpec(key, 0, half, "AES");
      encryptor = ecb(Cipher.ENCRYPT_MODE, dataKey);
      decryptor = ecb(Cipher.DECRYPT_MODE, dataKey);
      tweakEncryptor = mode == CipherMode.XTS ? ecb(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, half, half, "AES")) : null;
      if (ivgen == IvGenAlgorithm.ESSIV) {
        byte[] salt = spec.ivgenHash().digest(key);
        int saltLength = Math.min(salt.length, spec.ivgenCipher().keyLength());
        essivEncryptor = ecb(Cipher.ENCRYPT_MODE, new SecretKeySpec(salt, 0, saltLength, "AES"));
        Arrays.fill(salt, (byte) 0);
      } else {
        essivEncryptor = null;
      }
    } catch (GeneralSecurityException e) {
      throw new CryptoException("the JDK cannot run AES: " + e.getMessage());
    }
  }

  private static Cipher ecb(int direction, SecretKeySpec key) throws GeneralSecurityException {
    Cipher cipher = Cipher.getInstance("AES/ECB/NoPadding");
    cipher.init(direction, key);
    return cipher;
  }

  /** Encrypts {@code length} bytes (whole sectors) at {@code offset} of {@code data}, the first being sector {@code firstSector}. */
  public void encrypt(byte[] data, int offset, int length, long firstSector) {
    run(data, offset, length, firstSector, true);
  }

  /** Decrypts {@code length} bytes (whole sectors) at {@code offset} of {@code data}, the first being sector {@code firstSector}. */
  public void decrypt(byte[] data, int offset, int length, long firstSector) {
    run(data, offset, length, firstSector, false);
  }

  private void run(byte[] data, int offset, int length, long firstSector, boolean encrypt) {
    if ((length & (SECTOR_SIZE - 1)) != 0) {
      throw new IllegalArgumentException("not whole sectors: " + length + " bytes");
    }
    try {
      long sector = firstSector;
      for (int at = offset; at < offset + length; at += SECTOR_SIZE, sector++) {
        switch (mode) {
          case XTS -> xts(data, at, sector, encrypt);
          case CBC -> {
            sectorIv(sector);
            if (encrypt) {
              cbcEncrypt(data, at);
            } else {
              cbcDecrypt(data, at);
            }
          }
          case ECB -> {
            (encrypt ? encryptor : decryptor).update(data, at, SECTOR_SIZE, output, 0);
            System.arraycopy(output, 0, data, at, SECTOR_SIZE);
          }
          case CTR -> {
            sectorIv(sector);
            ctr(data, at);
          }
        }
      }
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES failed on whole blocks", e);
    }
  }

  /** The IV of {@code sector} into {@link #iv}, as QEMU's IV generators make it. */
  private void sectorIv(long sector) throws GeneralSecurityException {
    Arrays.fill(iv, (byte) 0);
    long value = ivgen == IvGenAlgorithm.PLAIN ? sector & 0xffffffffL : sector;
    for (int i = 0; i < 8; i++) {
      iv[i] = (byte) (value >>> (8 * i));
    }
    if (ivgen == IvGenAlgorithm.ESSIV) {
      System.arraycopy(iv, 0, counter, 0, BLOCK);
      essivEncryptor.update(counter, 0, BLOCK, iv, 0);
    }
  }

  private void xts(byte[] data, int at, long sector, boolean encrypt) throws GeneralSecurityException {
    sectorIv(sector);
    byte[] tweaks = this.tweaks;
    tweakEncryptor.update(iv, 0, BLOCK, tweaks, 0);
    for (int block = BLOCK; block < SECTOR_SIZE; block += BLOCK) {
      // multiply the previous tweak by x in GF(2^128), little-endian (IEEE 1619)
      int carry = 0;
      for (int i = 0; i < BLOCK; i++) {
        int b = tweaks[block - BLOCK + i] & 0xff;
        tweaks[block + i] = (byte) ((b << 1) | carry);
        carry = b >>> 7;
      }
      if (carry != 0) {
        tweaks[block] ^= (byte) 0x87;
      }
    }
    byte[] scratch = this.scratch;
    for (int i = 0; i < SECTOR_SIZE; i++) {
      scratch[i] = (byte) (data[at + i] ^ tweaks[i]);
    }
    byte[] output = this.output;
    (encrypt ? encryptor : decryptor).update(scratch, 0, SECTOR_SIZE, output, 0);
    for (int i = 0; i < SECTOR_SIZE; i++) {
      data[at + i] = (byte) (output[i] ^ tweaks[i]);
    }
  }

  private void cbcEncrypt(byte[] data, int at) throws GeneralSecurityException {
    byte[] chain = iv;
    int chainAt = 0;
    for (int block = at; block < at + SECTOR_SIZE; block += BLOCK) {
      for (int i = 0; i < BLOCK; i++) {
        scratch[i] = (byte) (data[block + i] ^ chain[chainAt + i]);
      }
      encryptor.update(scratch, 0, BLOCK, data, block);
      chain = data;
      chainAt = block;
    }
  }

  private void cbcDecrypt(byte[] data, int at) throws GeneralSecurityException {
    decryptor.update(data, at, SECTOR_SIZE, scratch, 0);
    for (int block = SECTOR_SIZE - BLOCK; block > 0; block -= BLOCK) {
      for (int i = 0; i < BLOCK; i++) {
        data[at + block + i] = (byte) (scratch[block + i] ^ data[at + block - BLOCK + i]);
      }
    }
    for (int i = 0; i < BLOCK; i++) {
      data[at + i] = (byte) (scratch[i] ^ iv[i]);
    }
  }

  private void ctr(byte[] data, int at) throws GeneralSecurityException {
    // the counter is the IV as a big-endian 128-bit number, one step per block
    for (int block = 0; block < SECTOR_SIZE; block += BLOCK) {
      System.arraycopy(iv, 0, tweaks, block, BLOCK);
      for (int i = BLOCK - 1; i >= 0 && ++iv[i] == 0; i--) {
        // carry into the next byte
      }
    }
    encryptor.update(tweaks, 0, SECTOR_SIZE, scratch, 0);
    for (int i = 0; i < SECTOR_SIZE; i++) {
      data[at + i] ^= scratch[i];
    }
  }

  /** Forgets the key schedule as far as the JDK lets us (its key copies stay until collected). */
  public void destroy() {
    Arrays.fill(scratch, (byte) 0);
    Arrays.fill(tweaks, (byte) 0);
    Arrays.fill(iv, (byte) 0);
    Arrays.fill(counter, (byte) 0);
    Arrays.fill(output, (byte) 0);
  }
}
