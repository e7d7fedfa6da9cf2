package io.qcow4j.crypto;

import java.io.IOException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;

/**
 * The LUKS key operations, as QEMU's crypto/block-luks.c does them: unlocking the master key from
 * a key slot (PBKDF2 of the password, decrypting the key material, AF merge, checking the master
 * key digest), storing the master key in a slot, and a new header for a new volume. I/O goes
 * through {@link KeyMaterial}; passwords and keys are cleared once used.
 */
public final class LuksKeys {
  /** QEMU's least iterations of a key slot's PBKDF2. */
  public static final long MIN_SLOT_ITERATIONS = 1000;
  /** QEMU's least iterations of the master key digest. */
  public static final long MIN_MASTER_KEY_ITERATIONS = 1000;
  /** QEMU's default iter-time, in milliseconds. */
  public static final long DEFAULT_ITER_TIME_MS = 2000;

  /** strerror(ERANGE), which QEMU appends to its iteration count failures. */
  private static final String RANGE_ERROR = "Numerical result out of range";

  private static final SecureRandom RANDOM = new SecureRandom();

  private LuksKeys() {}

  /** Reads and writes a volume's key material areas. */
  public interface KeyMaterial {
    /** Fills the first {@code length} bytes of {@code buffer} from byte {@code offset} of the volume. */
    void read(long offset, byte[] buffer, int length) throws IOException;

    /** Writes the first {@code length} bytes of {@code buffer} at byte {@code offset} of the volume. */
    void write(long offset, byte[] buffer, int length) throws IOException;
  }

  /**
   * The master key unlocked by {@code password} from the first active slot it opens, or null when
   * it opens none (QEMU's "Invalid password, cannot unlock any keyslot").
   */
  public static byte[] unlock(LuksHeader header, byte[] password, KeyMaterial material) throws IOException {
    for (int i = 0; i < LuksHeader.KEY_SLOTS; i++) {
      byte[] key = tryUnlock(header, i, password, material);
      if (key != null) {
        return key;
      }
    }
    return null;
  }

  /** The slot index {@code password} opens, or -1. */
  public static int findSlot(LuksHeader header, byte[] password, KeyMaterial material) throws IOException {
    for (int i = 0; i < LuksHeader.KEY_SLOTS; i++) {
      byte[] key = tryUnlock(header, i, password, material);
      if (key != null) {
        Arrays.fill(key, (byte) 0);
        return i;
      }
    }
    return -1;
  }

  /** The master key from slot {@code index} under {@code password}, or null when it does not open it. */
  public static byte[] tryUnlock(LuksHeader header, int index, byte[] password, KeyMaterial material)
      throws IOException {
    LuksKeySlot slot = header.slots().get(index);
    if (!slot.active()) {
      return null;
    }
    int keyBytes = header.keyBytes();
    byte[] slotKey = new byte[keyBytes];
    int materialLength = Math.toIntExact(header.keyMaterialLength(slot));
    // whole sectors: a cipher's output on a prefix of a sector is the prefix of its output
    byte[] split = new byte[roundUp(materialLength)];
    byte[] masterKey = null;
    try {
      Pbkdf2.derive(header.hash(), password, slot.salt(), slot.iterations(), slotKey);
      material.read(slot.keyOffset(), split, materialLength);
      SectorCipher cipher = new SectorCipher(header.cipherSpec(), slotKey);
      cipher.decrypt(split, 0, split.length, 0);
      cipher.destroy();
      masterKey = AntiForensic.merge(header.hash(), split, keyBytes, (int) slot.stripes());
      if (digestMatches(header, masterKey)) {
        byte[] result = masterKey;
        masterKey = null;
        return result;
      }
      return null;
    } catch (CryptoException e) {
      throw new IOException(e.getMessage(), e);
    } finally {
      Arrays.fill(slotKey, (byte) 0);
      Arrays.fill(split, (byte) 0);
      if (masterKey != null) {
        Arrays.fill(masterKey, (byte) 0);
      }
    }
  }

  private static boolean digestMatches(LuksHeader header, byte[] masterKey) {
    byte[] digest = new byte[LuksHeader.DIGEST_LENGTH];
    Pbkdf2.derive(header.hash(), masterKey, header.masterKeySalt(), header.masterKeyIterations(), digest);
    boolean equal = MessageDigest.isEqual(digest, header.masterKeyDigest());
    Arrays.fill(digest, (byte) 0);
    return equal;
  }

  /** The parameters of a new volume, as qemu-img's luks options give them. */
  public record Parameters(CipherSpec cipherSpec, HashAlgorithm hash, long iterTimeMillis) {}

  /** A new volume: its header (slot 0 active) and its master key, which the caller must clear. */
  public record NewVolume(LuksHeader header, byte[] masterKey) {}

  /**
   * Makes a new volume's master key and header, and stores the key under {@code password} in slot
   * 0 through {@code material} (QEMU's qcrypto_block_luks_create). The header is returned, not
   * written.
   */
  public static NewVolume create(Parameters parameters, byte[] password, KeyMaterial material) throws IOException {
    CipherSpec spec = parameters.cipherSpec();
    HashAlgorithm hash = parameters.hash();
    int keyBytes = spec.keyLength();
    byte[] masterKeySalt = randomBytes(LuksHeader.SALT_LENGTH);
    byte[] masterKey = randomBytes(keyBytes);
    long perSecond = Pbkdf2.iterationsPerSecond(hash, masterKey, masterKeySalt, LuksHeader.DIGEST_LENGTH);
    long iterations = scale(perSecond, parameters.iterTimeMillis()) / 8;
    checkIterations(iterations);
    iterations = Math.max(iterations, MIN_MASTER_KEY_ITERATIONS);
    byte[] digest = new byte[LuksHeader.DIGEST_LENGTH];
    Pbkdf2.derive(hash, masterKey, masterKeySalt, iterations, digest);

    long headerSectors = LuksHeader.KEY_SLOT_OFFSET / LuksHeader.SECTOR_SIZE;
    long splitSectors = LuksHeader.splitKeySectors(keyBytes, LuksHeader.STRIPES);
    List<LuksKeySlot> slots = new ArrayList<>();
    for (int i = 0; i < LuksHeader.KEY_SLOTS; i++) {
      slots.add(new LuksKeySlot(LuksKeySlot.DISABLED, 0, new byte[LuksHeader.SALT_LENGTH],
          headerSectors + i * splitSectors, LuksHeader.STRIPES));
    }
    long payloadSectors = headerSectors + LuksHeader.KEY_SLOTS * splitSectors;
    LuksHeader header = new LuksHeader(spec, hash, payloadSectors, digest, masterKeySalt, iterations,
        UUID.randomUUID().toString(), slots);
    header = storeKey(header, 0, password, masterKey, parameters.iterTimeMillis(), material);
    return new NewVolume(header, masterKey);
  }

  /**
   * Stores {@code masterKey} under {@code password} in slot {@code index} (new salt, iterations for
   * {@code iterTimeMillis} of CPU) and returns the header with the slot active; the header itself
   * is the caller's to write.
   */
  public static LuksHeader storeKey(LuksHeader header, int index, byte[] password, byte[] masterKey,
      long iterTimeMillis, KeyMaterial material) throws IOException {
    LuksKeySlot slot = header.slots().get(index);
    byte[] salt = randomBytes(LuksHeader.SALT_LENGTH);
    int keyBytes = header.keyBytes();
    long perSecond = Pbkdf2.iterationsPerSecond(header.hash(), password, salt, keyBytes);
    long iterations = scale(perSecond, iterTimeMillis);
    checkIterations(iterations);
    iterations = Math.max(iterations, MIN_SLOT_ITERATIONS);
    byte[] slotKey = new byte[keyBytes];
    byte[] split = null;
    try {
      Pbkdf2.derive(header.hash(), password, salt, iterations, slotKey);
      SectorCipher cipher = new SectorCipher(header.cipherSpec(), slotKey);
      byte[] material0 = AntiForensic.split(header.hash(), masterKey, (int) slot.stripes(), RANDOM);
      int materialLength = material0.length;
      split = Arrays.copyOf(material0, roundUp(materialLength));
      Arrays.fill(material0, (byte) 0);
      cipher.encrypt(split, 0, split.length, 0);
      cipher.destroy();
      material.write(slot.keyOffset(), split, materialLength);
    } catch (CryptoException e) {
      throw new IOException(e.getMessage(), e);
    } finally {
      Arrays.fill(slotKey, (byte) 0);
      if (split != null) {
        Arrays.fill(split, (byte) 0);
      }
    }
    return header.withSlot(index, slot.with(LuksKeySlot.ENABLED, iterations, salt));
  }

  /** The header with slot {@code index} cleared (inactive, no iterations, zero salt); nothing is written. */
  public static LuksHeader clearSlot(LuksHeader header, int index) {
    LuksKeySlot slot = header.slots().get(index);
    return header.withSlot(index, slot.with(LuksKeySlot.DISABLED, 0, new byte[LuksHeader.SALT_LENGTH]));
  }

  /**
   * Overwrites the key material of slot {@code index} with random bytes, as QEMU's
   * qcrypto_block_luks_erase_key does once the header no longer names the slot.
   */
  public static void wipeKeyMaterial(LuksHeader header, int index, KeyMaterial material) throws IOException {
    LuksKeySlot slot = header.slots().get(index);
    byte[] garbage = new byte[Math.toIntExact(header.keyMaterialLength(slot))];
    RANDOM.nextBytes(garbage);
    material.write(slot.keyOffset(), garbage, garbage.length);
  }

  /** {@code perSecond} scaled to {@code iterTimeMillis}, both unsigned as QEMU's uint64_t. */
  private static long scale(long perSecond, long iterTimeMillis) throws IOException {
    if (iterTimeMillis != 0 && Long.compareUnsigned(perSecond, Long.divideUnsigned(-1L, iterTimeMillis)) > 0) {
      throw new IOException("PBKDF iterations " + Long.toUnsignedString(perSecond) + " too large to scale: "
          + RANGE_ERROR);
    }
    return Long.divideUnsigned(perSecond * iterTimeMillis, 1000);
  }

  private static void checkIterations(long iterations) throws IOException {
    if (Long.compareUnsigned(iterations, 0xffffffffL) > 0) {
      throw new IOException("PBKDF iterations " + Long.toUnsignedString(iterations) + " larger than " + 0xffffffffL
          + ": " + RANGE_ERROR);
    }
  }

  private static int roundUp(int length) {
    return Math.addExact(length, SectorCipher.SECTOR_SIZE - 1) & -SectorCipher.SECTOR_SIZE;
  }

  private static byte[] randomBytes(int length) {
    byte[] bytes = new byte[length];
    RANDOM.nextBytes(bytes);
    return bytes;
  }
}
