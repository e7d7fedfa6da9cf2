package io.qcow4j.crypto;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import javax.crypto.Cipher;
import javax.crypto.spec.SecretKeySpec;

/**
 * Encrypts and decrypts whole 512-byte sectors in place as QEMU's block crypto does: each sector's
 * IV from its number, then the cipher in its mode. XTS (IEEE 1619), CBC and CTR are built on the
 * JDK's AES/ECB/NoPadding, which runs on the CPU's AES instructions. Sectors go through in runs of
 * up to {@value #RUN} bytes: the IVs of a run (and XTS's first tweaks) in one ECB call, the run's
 * blocks in another, the XORs eight bytes at a time; so no cipher is initialized and nothing is
 * allocated per sector, and the JDK's multi-block AES does the work. Not thread-safe: one instance
 * per thread at a time (see {@link SectorCiphers}).
 */
public final class SectorCipher {
  /** The sector size of every LUKS volume and of qcow2's encryption. */
  public static final int SECTOR_SIZE = 512;
  private static final int BLOCK = 16;
  /** The bytes handled per ECB call: large enough for the JDK's wide AES, small enough to stay in cache. */
  private static final int RUN = 16 * 1024;
  private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

  private final CipherMode mode;
  private final IvGenAlgorithm ivgen;
  private final Cipher encryptor;
  private final Cipher decryptor;
  private final Cipher tweakEncryptor;
  private final Cipher essivEncryptor;
  /** The IVs of a run's sectors, one block each (then, for XTS, their first tweaks). */
  private final byte[] ivs = new byte[RUN / SECTOR_SIZE * BLOCK];
  private final byte[] firstTweaks = new byte[RUN / SECTOR_SIZE * BLOCK];
  /** Per block of a run: XTS's tweak, or CTR's counter; then the cipher's output. */
  private final byte[] masks = new byte[RUN];
  private final byte[] output = new byte[RUN];

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
      for (int done = 0; done < length; done += RUN) {
        int bytes = Math.min(RUN, length - done);
        int at = offset + done;
        long sector = firstSector + done / SECTOR_SIZE;
        switch (mode) {
          case XTS -> xts(data, at, bytes, sector, encrypt);
          case CBC -> {
            sectorIvs(sector, bytes / SECTOR_SIZE);
            if (encrypt) {
              cbcEncrypt(data, at, bytes);
            } else {
              cbcDecrypt(data, at, bytes);
            }
          }
          case ECB -> {
            (encrypt ? encryptor : decryptor).update(data, at, bytes, output, 0);
            System.arraycopy(output, 0, data, at, bytes);
          }
          case CTR -> {
            sectorIvs(sector, bytes / SECTOR_SIZE);
            ctr(data, at, bytes);
          }
        }
      }
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES failed on whole blocks", e);
    }
  }

  /** The IVs of {@code count} sectors from {@code first} into {@link #ivs}, as QEMU's IV generators make them. */
  private void sectorIvs(long first, int count) throws GeneralSecurityException {
    for (int s = 0; s < count; s++) {
      long sector = first + s;
      LONGS.set(ivs, s * BLOCK, ivgen == IvGenAlgorithm.PLAIN ? sector & 0xffffffffL : sector);
      LONGS.set(ivs, s * BLOCK + 8, 0L);
    }
    if (ivgen == IvGenAlgorithm.ESSIV) {
      essivEncryptor.update(ivs, 0, count * BLOCK, firstTweaks, 0);
      System.arraycopy(firstTweaks, 0, ivs, 0, count * BLOCK);
    }
  }

  private void xts(byte[] data, int at, int bytes, long sector, boolean encrypt) throws GeneralSecurityException {
    int sectors = bytes / SECTOR_SIZE;
    sectorIvs(sector, sectors);
    tweakEncryptor.update(ivs, 0, sectors * BLOCK, firstTweaks, 0);
    byte[] tweaks = masks;
    for (int s = 0; s < sectors; s++) {
      long low = (long) LONGS.get(firstTweaks, s * BLOCK);
      long high = (long) LONGS.get(firstTweaks, s * BLOCK + 8);
      for (int block = s * SECTOR_SIZE; block < (s + 1) * SECTOR_SIZE; block += BLOCK) {
        LONGS.set(tweaks, block, low);
        LONGS.set(tweaks, block + 8, high);
        // the next tweak: this one times x in GF(2^128), little-endian (IEEE 1619)
        long carry = high >> 63;
        high = (high << 1) | (low >>> 63);
        low = (low << 1) ^ (carry & 0x87);
      }
    }
    xor(data, at, tweaks, 0, data, at, bytes);
    (encrypt ? encryptor : decryptor).update(data, at, bytes, output, 0);
    xor(output, 0, tweaks, 0, data, at, bytes);
  }

  /** {@code to[toAt..] = a[aAt..] ^ b[bAt..]} for {@code bytes} bytes (a multiple of 8). */
  private static void xor(byte[] a, int aAt, byte[] b, int bAt, byte[] to, int toAt, int bytes) {
    for (int i = 0; i < bytes; i += 8) {
      LONGS.set(to, toAt + i, (long) LONGS.get(a, aAt + i) ^ (long) LONGS.get(b, bAt + i));
    }
  }

  private void cbcEncrypt(byte[] data, int at, int bytes) throws GeneralSecurityException {
    // each block chains on the one before: one AES call per block
    for (int s = 0; s < bytes / SECTOR_SIZE; s++) {
      int sectorAt = at + s * SECTOR_SIZE;
      xor(data, sectorAt, ivs, s * BLOCK, data, sectorAt, BLOCK);
      encryptor.update(data, sectorAt, BLOCK, output, 0);
      System.arraycopy(output, 0, data, sectorAt, BLOCK);
      for (int block = sectorAt + BLOCK; block < sectorAt + SECTOR_SIZE; block += BLOCK) {
        xor(data, block, data, block - BLOCK, data, block, BLOCK);
        encryptor.update(data, block, BLOCK, output, 0);
        System.arraycopy(output, 0, data, block, BLOCK);
      }
    }
  }

  private void cbcDecrypt(byte[] data, int at, int bytes) throws GeneralSecurityException {
    decryptor.update(data, at, bytes, output, 0);
    for (int s = 0; s < bytes / SECTOR_SIZE; s++) {
      int sectorAt = at + s * SECTOR_SIZE;
      int outAt = s * SECTOR_SIZE;
      // backwards, so that each block still holds its ciphertext when the next one needs it
      for (int i = SECTOR_SIZE - 8; i >= BLOCK; i -= 8) {
        LONGS.set(data, sectorAt + i, (long) LONGS.get(output, outAt + i) ^ (long) LONGS.get(data, sectorAt + i - BLOCK));
      }
      xor(output, outAt, ivs, s * BLOCK, data, sectorAt, BLOCK);
    }
  }

  private void ctr(byte[] data, int at, int bytes) throws GeneralSecurityException {
    // each sector's counter is its IV as a big-endian 128-bit number, one step per block
    byte[] counters = masks;
    for (int s = 0; s < bytes / SECTOR_SIZE; s++) {
      long high = Long.reverseBytes((long) LONGS.get(ivs, s * BLOCK));
      long low = Long.reverseBytes((long) LONGS.get(ivs, s * BLOCK + 8));
      for (int block = s * SECTOR_SIZE; block < (s + 1) * SECTOR_SIZE; block += BLOCK) {
        LONGS.set(counters, block, Long.reverseBytes(high));
        LONGS.set(counters, block + 8, Long.reverseBytes(low));
        low++;
        if (low == 0) {
          high++;
        }
      }
    }
    encryptor.update(counters, 0, bytes, output, 0);
    xor(data, at, output, 0, data, at, bytes);
  }

  /** Forgets the key schedule as far as the JDK lets us (its key copies stay until collected). */
  public void destroy() {
    Arrays.fill(ivs, (byte) 0);
    Arrays.fill(firstTweaks, (byte) 0);
    Arrays.fill(masks, (byte) 0);
    Arrays.fill(output, (byte) 0);
  }
}
