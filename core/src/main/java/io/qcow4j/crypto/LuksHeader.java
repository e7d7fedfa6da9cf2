package io.qcow4j.crypto;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.UnsupportedFeatureException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The LUKS1 header (cryptsetup's LUKS1 on-disk format, version 1.2.1, as QEMU's crypto/block-luks.c
 * reads and writes it): 592 big-endian bytes at the start of the volume. {@link #decode} checks
 * every field in QEMU's order with QEMU's messages, and bounds what a hostile header can make a
 * reader allocate or compute.
 */
public final class LuksHeader {
  /** The encoded length. */
  public static final int LENGTH = 592;
  /** LUKS sectors, in which offsets are counted. */
  public static final int SECTOR_SIZE = 512;
  /** The number of key slots. */
  public static final int KEY_SLOTS = 8;
  /** The only stripe count QEMU accepts (and writes). */
  public static final int STRIPES = 4000;
  /** Where key material may start: the header padded to 4 KiB. */
  public static final int KEY_SLOT_OFFSET = 4096;
  /** The length of the master key digest. */
  public static final int DIGEST_LENGTH = 20;
  /** The length of each salt. */
  public static final int SALT_LENGTH = 32;
  /**
   * The most PBKDF2 iterations a header may ask for, master key or key slot: over a minute of
   * CPU time on a fast machine (a 2 s iter-time gives a few million).
   */
  public static final long MAX_ITERATIONS = 1L << 28;

  static final byte[] MAGIC = {'L', 'U', 'K', 'S', (byte) 0xBA, (byte) 0xBE};
  private static final int CIPHER_NAME_AT = 8;
  private static final int CIPHER_MODE_AT = 40;
  private static final int HASH_SPEC_AT = 72;
  private static final int PAYLOAD_OFFSET_AT = 104;
  private static final int KEY_BYTES_AT = 108;
  private static final int DIGEST_AT = 112;
  private static final int MK_SALT_AT = 132;
  private static final int MK_ITERATIONS_AT = 164;
  private static final int UUID_AT = 168;
  private static final int UUID_LENGTH = 40;
  private static final int SLOTS_AT = 208;
  private static final int SLOT_LENGTH = 48;

  private final String cipherName;
  private final String cipherModeSpec;
  private final String hashSpec;
  private final long payloadOffsetSector;
  private final int keyBytes;
  private final byte[] masterKeyDigest;
  private final byte[] masterKeySalt;
  private final long masterKeyIterations;
  private final String uuid;
  private final List<LuksKeySlot> slots;
  private final CipherSpec cipherSpec;
  private final HashAlgorithm hash;

  LuksHeader(CipherSpec cipherSpec, HashAlgorithm hash, long payloadOffsetSector, byte[] masterKeyDigest,
      byte[] masterKeySalt, long masterKeyIterations, String uuid, List<LuksKeySlot> slots) {
    this(cipherSpec.cipher().luksName(), cipherSpec.luksModeSpec(), hash.qemuName(), payloadOffsetSector,
        cipherSpec.keyLength(), masterKeyDigest, masterKeySalt, masterKeyIterations, uuid, slots, cipherSpec, hash);
  }

  private LuksHeader(String cipherName, String cipherModeSpec, String hashSpec, long payloadOffsetSector, int keyBytes,
      byte[] masterKeyDigest, byte[] masterKeySalt, long masterKeyIterations, String uuid, List<LuksKeySlot> slots,
      CipherSpec cipherSpec, HashAlgorithm hash) {
    this.cipherName = cipherName;
    this.cipherModeSpec = cipherModeSpec;
    this.hashSpec = hashSpec;
    this.payloadOffsetSector = payloadOffsetSector;
    this.keyBytes = keyBytes;
    this.masterKeyDigest = masterKeyDigest.clone();
    this.masterKeySalt = masterKeySalt.clone();
    this.masterKeyIterations = masterKeyIterations;
    this.uuid = uuid;
    this.slots = List.copyOf(slots);
    this.cipherSpec = cipherSpec;
    this.hash = hash;
  }

  /** Whether {@code start} begins with a LUKS version 1 header (QEMU's has_format). */
  public static boolean probe(byte[] start) {
    if (start.length < CIPHER_NAME_AT) {
      return false;
    }
    return Arrays.equals(start, 0, 6, MAGIC, 0, 6) && ((start[6] & 0xff) << 8 | (start[7] & 0xff)) == 1;
  }

  /**
   * Decodes and checks the header in {@code data} (at least {@link #LENGTH} bytes) of the volume
   * {@code file} names, as QEMU's load, check and parse steps do, with their messages.
   */
  public static LuksHeader decode(byte[] data, String file) throws IOException {
    if (data.length < LENGTH) {
      throw new CorruptImageException(file + ": file is too short for a LUKS header (" + data.length
          + " bytes of " + LENGTH + ")");
    }
    ByteBuffer in = ByteBuffer.wrap(data);
    if (!Arrays.equals(data, 0, 6, MAGIC, 0, 6)) {
      throw new CorruptImageException(file + ": Volume is not in LUKS format");
    }
    int version = in.getShort(6) & 0xffff;
    if (version != 1) {
      throw new UnsupportedFeatureException(file + ": LUKS version " + version + " is not supported");
    }
    String cipherName = cString(data, CIPHER_NAME_AT, file, "LUKS header cipher name is not NUL terminated");
    String cipherModeSpec = cString(data, CIPHER_MODE_AT, file, "LUKS header cipher mode is not NUL terminated");
    String hashSpec = cString(data, HASH_SPEC_AT, file, "LUKS header hash spec is not NUL terminated");
    long payloadOffsetSector = Integer.toUnsignedLong(in.getInt(PAYLOAD_OFFSET_AT));
    long keyBytes = Integer.toUnsignedLong(in.getInt(KEY_BYTES_AT));
    byte[] digest = Arrays.copyOfRange(data, DIGEST_AT, DIGEST_AT + DIGEST_LENGTH);
    byte[] salt = Arrays.copyOfRange(data, MK_SALT_AT, MK_SALT_AT + SALT_LENGTH);
    long masterKeyIterations = Integer.toUnsignedLong(in.getInt(MK_ITERATIONS_AT));
    String uuid = new String(data, UUID_AT, nulLength(data, UUID_AT, UUID_LENGTH), StandardCharsets.ISO_8859_1);
    List<LuksKeySlot> slots = new ArrayList<>(KEY_SLOTS);
    for (int i = 0; i < KEY_SLOTS; i++) {
      int at = SLOTS_AT + i * SLOT_LENGTH;
      slots.add(new LuksKeySlot(in.getInt(at), Integer.toUnsignedLong(in.getInt(at + 4)),
          Arrays.copyOfRange(data, at + 8, at + 8 + SALT_LENGTH), Integer.toUnsignedLong(in.getInt(at + 40)),
          Integer.toUnsignedLong(in.getInt(at + 44))));
    }

    int headerSectors = KEY_SLOT_OFFSET / SECTOR_SIZE;
    if (payloadOffsetSector < headerSectors) {
      throw new CorruptImageException(file + ": LUKS payload is overlapping with the header");
    }
    if (masterKeyIterations == 0) {
      throw new CorruptImageException(file + ": LUKS key iteration count is zero");
    }
    for (int i = 0; i < KEY_SLOTS; i++) {
      LuksKeySlot slot = slots.get(i);
      long start = slot.keyOffsetSector();
      long length = splitKeySectors(keyBytes, slot.stripes());
      if (slot.stripes() != STRIPES) {
        throw new CorruptImageException(file + ": Keyslot " + i + " is corrupted (stripes " + (int) slot.stripes()
            + " != " + STRIPES + ")");
      }
      if (slot.activeWord() != LuksKeySlot.DISABLED && slot.activeWord() != LuksKeySlot.ENABLED) {
        throw new CorruptImageException(file + ": Keyslot " + i + " state (active/disable) is corrupted");
      }
      if (slot.active() && slot.iterations() == 0) {
        throw new CorruptImageException(file + ": Keyslot " + i + " iteration count is zero");
      }
      if (start < headerSectors) {
        throw new CorruptImageException(file + ": Keyslot " + i + " is overlapping with the LUKS header");
      }
      if (start + length > payloadOffsetSector) {
        throw new CorruptImageException(file + ": Keyslot " + i + " is overlapping with the encrypted payload");
      }
      for (int j = i + 1; j < KEY_SLOTS; j++) {
        LuksKeySlot other = slots.get(j);
        long otherStart = other.keyOffsetSector();
        long otherLength = splitKeySectors(keyBytes, other.stripes());
        if (start + length > otherStart && otherStart + otherLength > start) {
          throw new CorruptImageException(file + ": Keyslots " + i + " and " + j + " are overlapping in the header");
        }
      }
    }

    // parse_header: "<mode>-<ivgen>[:<ivhash>]"
    int dash = cipherModeSpec.indexOf('-');
    if (dash < 0) {
      throw new CorruptImageException(file + ": Unexpected cipher mode string format '" + cipherModeSpec + "'");
    }
    String modeName = cipherModeSpec.substring(0, dash);
    String ivgenName = cipherModeSpec.substring(dash + 1);
    HashAlgorithm ivgenHash = null;
    int colon = ivgenName.indexOf(':');
    if (colon >= 0) {
      String ivhashName = ivgenName.substring(colon + 1);
      ivgenName = ivgenName.substring(0, colon);
      ivgenHash = lookupHash(ivhashName, file);
    }
    CipherMode mode = CipherMode.parse(modeName);
    if (mode == null) {
      throw new UnsupportedFeatureException(file + ": Cipher mode '" + modeName + "' not supported");
    }
    long cipherKeyBytes = mode == CipherMode.XTS ? keyBytes / 2 : keyBytes;
    CipherAlgorithm cipher = cipherKeyBytes <= 64 ? CipherAlgorithm.fromLuks(cipherName, (int) cipherKeyBytes) : null;
    if (cipher == null) {
      throw new UnsupportedFeatureException(file + ": Algorithm '" + cipherName + "' with key size "
          + (int) cipherKeyBytes + " bytes not supported");
    }
    HashAlgorithm hash = lookupHash(hashSpec, file);
    IvGenAlgorithm ivgen = IvGenAlgorithm.parse(ivgenName);
    if (ivgen == null) {
      throw new UnsupportedFeatureException(file + ": IV generator '" + ivgenName + "' not supported");
    }
    CipherSpec spec;
    try {
      spec = CipherSpec.of(cipher, mode, ivgen, ivgen == IvGenAlgorithm.ESSIV ? ivgenHash : null);
    } catch (CryptoException e) {
      throw new UnsupportedFeatureException(file + ": " + e.getMessage());
    }

    // what QEMU does not bound: what the unlock would compute, and what qcow4j can run
    if (!cipher.supported()) {
      throw new UnsupportedFeatureException(file + ": cipher '" + cipher.qemuName() + "' is not supported by qcow4j");
    }
    if (!hash.supported() || (spec.ivgenHash() != null && !spec.ivgenHash().supported())) {
      throw new UnsupportedFeatureException(file + ": hash algorithm 'ripemd160' is not supported by qcow4j");
    }
    if (masterKeyIterations > MAX_ITERATIONS) {
      throw new ImageLimitException(file + ": LUKS header field master_key_iterations at offset " + MK_ITERATIONS_AT
          + " is " + masterKeyIterations + ", over qcow4j's limit of " + MAX_ITERATIONS);
    }
    for (int i = 0; i < KEY_SLOTS; i++) {
      LuksKeySlot slot = slots.get(i);
      if (slot.active() && slot.iterations() > MAX_ITERATIONS) {
        throw new ImageLimitException(file + ": LUKS key slot " + i + " field iterations at offset "
            + (SLOTS_AT + i * SLOT_LENGTH + 4) + " is " + slot.iterations() + ", over qcow4j's limit of "
            + MAX_ITERATIONS);
      }
    }
    return new LuksHeader(cipherName, cipherModeSpec, hashSpec, payloadOffsetSector, (int) keyBytes, digest, salt,
        masterKeyIterations, uuid, slots, spec, hash);
  }

  private static HashAlgorithm lookupHash(String name, String file) throws IOException {
    HashAlgorithm hash = HashAlgorithm.parse(name);
    if (hash == null) {
      throw new UnsupportedFeatureException(file + ": Hash algorithm '" + name + "' not supported");
    }
    return hash;
  }

  /** The payload offset in bytes of a new volume whose master key has {@code keyBytes} bytes (QEMU's layout). */
  public static long payloadOffsetFor(int keyBytes) {
    long headerSectors = KEY_SLOT_OFFSET / SECTOR_SIZE;
    return (headerSectors + KEY_SLOTS * splitKeySectors(keyBytes, STRIPES)) * SECTOR_SIZE;
  }

  /** The sectors a slot's key material takes: cryptsetup's rounding, to whole 4 KiB units. */
  static long splitKeySectors(long keyBytes, long stripes) {
    long sectors = (keyBytes * stripes + SECTOR_SIZE - 1) / SECTOR_SIZE;
    long headerSectors = KEY_SLOT_OFFSET / SECTOR_SIZE;
    return (sectors + headerSectors - 1) / headerSectors * headerSectors;
  }

  private static String cString(byte[] data, int at, String file, String unterminated) throws IOException {
    int length = nulLength(data, at, 32);
    if (length == 32) {
      throw new CorruptImageException(file + ": " + unterminated);
    }
    return new String(data, at, length, StandardCharsets.ISO_8859_1);
  }

  private static int nulLength(byte[] data, int at, int max) {
    int length = 0;
    while (length < max && data[at + length] != 0) {
      length++;
    }
    return length;
  }

  /** The 592 bytes of this header. */
  public byte[] encode() {
    ByteBuffer out = ByteBuffer.allocate(LENGTH);
    out.put(MAGIC);
    out.putShort((short) 1);
    putString(out, CIPHER_NAME_AT, cipherName, 32);
    putString(out, CIPHER_MODE_AT, cipherModeSpec, 32);
    putString(out, HASH_SPEC_AT, hashSpec, 32);
    out.putInt(PAYLOAD_OFFSET_AT, (int) payloadOffsetSector);
    out.putInt(KEY_BYTES_AT, keyBytes);
    out.put(DIGEST_AT, masterKeyDigest);
    out.put(MK_SALT_AT, masterKeySalt);
    out.putInt(MK_ITERATIONS_AT, (int) masterKeyIterations);
    putString(out, UUID_AT, uuid, UUID_LENGTH);
    for (int i = 0; i < KEY_SLOTS; i++) {
      LuksKeySlot slot = slots.get(i);
      int at = SLOTS_AT + i * SLOT_LENGTH;
      out.putInt(at, slot.activeWord());
      out.putInt(at + 4, (int) slot.iterations());
      out.put(at + 8, slot.salt());
      out.putInt(at + 40, (int) slot.keyOffsetSector());
      out.putInt(at + 44, (int) slot.stripes());
    }
    return out.array();
  }

  private static void putString(ByteBuffer out, int at, String value, int max) {
    byte[] bytes = value.getBytes(StandardCharsets.ISO_8859_1);
    out.put(at, bytes, 0, Math.min(bytes.length, max));
  }

  /** This header with slot {@code index} replaced. */
  public LuksHeader withSlot(int index, LuksKeySlot slot) {
    List<LuksKeySlot> changed = new ArrayList<>(slots);
    changed.set(index, slot);
    return new LuksHeader(cipherName, cipherModeSpec, hashSpec, payloadOffsetSector, keyBytes, masterKeyDigest,
        masterKeySalt, masterKeyIterations, uuid, changed, cipherSpec, hash);
  }

  /** The cipher name as stored ("aes"). */
  public String cipherName() {
    return cipherName;
  }

  /** The mode string as stored ("xts-plain64"). */
  public String cipherModeSpec() {
    return cipherModeSpec;
  }

  /** The hash spec as stored ("sha256"). */
  public String hashSpec() {
    return hashSpec;
  }

  /** Where the encrypted payload starts, in 512-byte sectors. */
  public long payloadOffsetSector() {
    return payloadOffsetSector;
  }

  /** Where the encrypted payload starts, in bytes. */
  public long payloadOffset() {
    return payloadOffsetSector * SECTOR_SIZE;
  }

  /** The master key length in bytes. */
  public int keyBytes() {
    return keyBytes;
  }

  /** The PBKDF2 digest of the master key (a copy). */
  public byte[] masterKeyDigest() {
    return masterKeyDigest.clone();
  }

  /** The salt of the master key digest (a copy). */
  public byte[] masterKeySalt() {
    return masterKeySalt.clone();
  }

  /** The PBKDF2 iterations of the master key digest. */
  public long masterKeyIterations() {
    return masterKeyIterations;
  }

  /** The volume's UUID as stored (text). */
  public String uuid() {
    return uuid;
  }

  /** The eight key slots. */
  public List<LuksKeySlot> slots() {
    return slots;
  }

  /** How sectors are encrypted. */
  public CipherSpec cipherSpec() {
    return cipherSpec;
  }

  /** The hash of PBKDF2 and of the anti-forensic diffusion. */
  public HashAlgorithm hash() {
    return hash;
  }

  /** The bytes of one key slot's material: the key times the stripes. */
  public long keyMaterialLength(LuksKeySlot slot) {
    return (long) keyBytes * slot.stripes();
  }
}
