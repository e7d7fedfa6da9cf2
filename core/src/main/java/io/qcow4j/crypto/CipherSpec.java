package io.qcow4j.crypto;

/**
 * How sectors are encrypted: the cipher, its mode, the IV generator and the hash ESSIV takes (null
 * when none is named), and the cipher ESSIV runs, chosen as QEMU's qcrypto_block_luks_essiv_cipher
 * chooses it (dm-crypt's rule: a key as long as the hash's digest).
 */
public record CipherSpec(CipherAlgorithm cipher, CipherMode mode, IvGenAlgorithm ivgen, HashAlgorithm ivgenHash,
    CipherAlgorithm ivgenCipher) {

  /** The spec of these parts, the ESSIV cipher derived; fails with QEMU's message where QEMU does. */
  public static CipherSpec of(CipherAlgorithm cipher, CipherMode mode, IvGenAlgorithm ivgen, HashAlgorithm ivgenHash)
      throws CryptoException {
    CipherAlgorithm ivgenCipher = cipher;
    if (ivgen == IvGenAlgorithm.ESSIV) {
      if (ivgenHash == null) {
        throw new CryptoException("Missing IV generator hash specification");
      }
      ivgenCipher = essivCipher(cipher, ivgenHash);
    }
    return new CipherSpec(cipher, mode, ivgen, ivgenHash, ivgenCipher);
  }

  private static CipherAlgorithm essivCipher(CipherAlgorithm cipher, HashAlgorithm hash) throws CryptoException {
    int digestLength = hash.digestLength();
    if (digestLength == cipher.keyLength()) {
      return cipher;
    }
    String family = cipher.luksName();
    if (family == null || family.equals("cast5")) {
      throw new CryptoException("Cipher " + cipher.qemuName() + " not supported with essiv");
    }
    CipherAlgorithm match = CipherAlgorithm.fromLuks(family, digestLength);
    if (match == null) {
      String display = switch (family) {
        case "aes" -> "AES";
        case "serpent" -> "Serpent";
        default -> "Twofish";
      };
      throw new CryptoException("No " + display + " cipher with key size " + digestLength + " available");
    }
    return match;
  }

  /** The master key length: the cipher's key, twice in XTS mode. */
  public int keyLength() {
    return mode == CipherMode.XTS ? 2 * cipher.keyLength() : cipher.keyLength();
  }

  /** The mode string a LUKS header stores: "xts-plain64", "cbc-essiv:sha256". */
  public String luksModeSpec() {
    String spec = mode.qemuName() + "-" + ivgen.qemuName();
    return ivgenHash == null ? spec : spec + ":" + ivgenHash.qemuName();
  }
}
