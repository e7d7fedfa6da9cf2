package io.qcow4j.crypto;

/** The block ciphers QEMU's crypto layer names (QCryptoCipherAlgorithm), with their key sizes. */
public enum CipherAlgorithm {
  AES_128("aes-128", "aes", 16),
  AES_192("aes-192", "aes", 24),
  AES_256("aes-256", "aes", 32),
  DES("des", null, 8),
  TRIPLE_DES("3des", null, 24),
  CAST5_128("cast5-128", "cast5", 16),
  SERPENT_128("serpent-128", "serpent", 16),
  SERPENT_192("serpent-192", "serpent", 24),
  SERPENT_256("serpent-256", "serpent", 32),
  TWOFISH_128("twofish-128", "twofish", 16),
  TWOFISH_192("twofish-192", "twofish", 24),
  TWOFISH_256("twofish-256", "twofish", 32);

  private final String qemuName;
  private final String luksName;
  private final int keyLength;

  CipherAlgorithm(String qemuName, String luksName, int keyLength) {
    this.qemuName = qemuName;
    this.luksName = luksName;
    this.keyLength = keyLength;
  }

  /** QEMU's name ("aes-256"), as the create options take it. */
  public String qemuName() {
    return qemuName;
  }

  /** The cipher name a LUKS header stores ("aes"), or null for a cipher LUKS does not name. */
  public String luksName() {
    return luksName;
  }

  /** The key length in bytes (one key; XTS takes two). */
  public int keyLength() {
    return keyLength;
  }

  /** Whether qcow4j runs this cipher (the JDK's AES, which uses the CPU's AES instructions). */
  public boolean supported() {
    return luksName != null && luksName.equals("aes");
  }

  /** The cipher QEMU names {@code name}, or null. */
  public static CipherAlgorithm parse(String name) {
    for (CipherAlgorithm cipher : values()) {
      if (cipher.qemuName.equals(name)) {
        return cipher;
      }
    }
    return null;
  }

  /**
   * The cipher a LUKS header means by {@code luksName} and a key of {@code keyLength} bytes (half
   * the header's key bytes in XTS mode), or null, as QEMU's qcrypto_block_luks_cipher_name_lookup.
   */
  public static CipherAlgorithm fromLuks(String luksName, int keyLength) {
    for (CipherAlgorithm cipher : values()) {
      if (luksName.equals(cipher.luksName) && cipher.keyLength == keyLength) {
        return cipher;
      }
    }
    return null;
  }
}
