package io.qcow4j.disk;

import java.util.Arrays;

/**
 * The encryption of a new image, as qemu-img's luks options (or qcow2's encrypt.*) set it: the
 * format ("luks"), QEMU's names of the cipher ("aes-256"), its mode ("xts"), the IV generator
 * ("plain64") and its hash (null unless essiv, then "sha256" by default), the PBKDF2 hash
 * ("sha256"), the iteration time in milliseconds (2000), and the passphrase. Null names take
 * QEMU's defaults. The passphrase is copied in and out and never printed; {@link #clear} wipes it.
 */
public final class Encryption {
  private final String format;
  private final String cipherAlg;
  private final String cipherMode;
  private final String ivgenAlg;
  private final String ivgenHashAlg;
  private final String hashAlg;
  private final Long iterTimeMillis;
  private final byte[] secret;

  /** Encryption with these settings (null for QEMU's default) and passphrase {@code secret}. */
  public Encryption(String format, String cipherAlg, String cipherMode, String ivgenAlg, String ivgenHashAlg,
      String hashAlg, Long iterTimeMillis, byte[] secret) {
    this.format = format == null ? "luks" : format;
    this.cipherAlg = cipherAlg;
    this.cipherMode = cipherMode;
    this.ivgenAlg = ivgenAlg;
    this.ivgenHashAlg = ivgenHashAlg;
    this.hashAlg = hashAlg;
    this.iterTimeMillis = iterTimeMillis;
    this.secret = secret == null ? null : secret.clone();
  }

  /** LUKS with QEMU's defaults and passphrase {@code secret}. */
  public static Encryption luks(byte[] secret) {
    return new Encryption("luks", null, null, null, null, null, null, secret);
  }

  /** The encryption format ("luks"). */
  public String format() {
    return format;
  }

  /** The cipher as QEMU names it, or null for aes-256. */
  public String cipherAlg() {
    return cipherAlg;
  }

  /** The cipher mode, or null for xts. */
  public String cipherMode() {
    return cipherMode;
  }

  /** The IV generator, or null for plain64. */
  public String ivgenAlg() {
    return ivgenAlg;
  }

  /** The IV generator's hash, or null (sha256 for essiv). */
  public String ivgenHashAlg() {
    return ivgenHashAlg;
  }

  /** The PBKDF2 hash, or null for sha256. */
  public String hashAlg() {
    return hashAlg;
  }

  /** The PBKDF2 time per key slot in milliseconds, or null for 2000. */
  public Long iterTimeMillis() {
    return iterTimeMillis;
  }

  /** A copy of the passphrase, or null when none was given. */
  public byte[] secret() {
    return secret == null ? null : secret.clone();
  }

  /** This encryption with another iteration time. */
  public Encryption withIterTimeMillis(Long value) {
    return new Encryption(format, cipherAlg, cipherMode, ivgenAlg, ivgenHashAlg, hashAlg, value, secret);
  }

  /** Wipes the passphrase held here. */
  public void clear() {
    if (secret != null) {
      Arrays.fill(secret, (byte) 0);
    }
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof Encryption that && format.equals(that.format)
        && java.util.Objects.equals(cipherAlg, that.cipherAlg) && java.util.Objects.equals(cipherMode, that.cipherMode)
        && java.util.Objects.equals(ivgenAlg, that.ivgenAlg) && java.util.Objects.equals(ivgenHashAlg, that.ivgenHashAlg)
        && java.util.Objects.equals(hashAlg, that.hashAlg) && java.util.Objects.equals(iterTimeMillis, that.iterTimeMillis)
        && Arrays.equals(secret, that.secret);
  }

  @Override
  public int hashCode() {
    return java.util.Objects.hash(format, cipherAlg, cipherMode, ivgenAlg, ivgenHashAlg, hashAlg, iterTimeMillis);
  }

  @Override
  public String toString() {
    return "Encryption[format=" + format + ", cipherAlg=" + cipherAlg + ", cipherMode=" + cipherMode + ", ivgenAlg="
        + ivgenAlg + ", ivgenHashAlg=" + ivgenHashAlg + ", hashAlg=" + hashAlg + ", iterTimeMillis=" + iterTimeMillis
        + (secret != null ? ", secret=<hidden>" : "") + "]";
  }
}
