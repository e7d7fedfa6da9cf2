package io.qcow4j.crypto;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Locale;

/** The hash algorithms QEMU's crypto layer names (QCryptoHashAlgorithm), with their digest sizes. */
public enum HashAlgorithm {
  MD5(16, 64, "MD5"),
  SHA1(20, 64, "SHA-1"),
  SHA224(28, 64, "SHA-224"),
  SHA256(32, 64, "SHA-256"),
  SHA384(48, 128, "SHA-384"),
  SHA512(64, 128, "SHA-512"),
  /** Known to QEMU; the JDK has no RIPEMD-160, so images using it are refused. */
  RIPEMD160(20, 64, null);

  private final int digestLength;
  private final int blockSize;
  private final String jdkName;

  HashAlgorithm(int digestLength, int blockSize, String jdkName) {
    this.digestLength = digestLength;
    this.blockSize = blockSize;
    this.jdkName = jdkName;
  }

  /** The hash's block size in bytes (HMAC pads its key to it). */
  int blockSize() {
    return blockSize;
  }

  /** The length of this hash's digest in bytes. */
  public int digestLength() {
    return digestLength;
  }

  /** QEMU's name ("sha256"), as written in a LUKS header and taken by the create options. */
  public String qemuName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Whether qcow4j computes this hash. */
  public boolean supported() {
    return this != RIPEMD160;
  }

  /** The hash QEMU names {@code name}, or null when QEMU knows none of that name. */
  public static HashAlgorithm parse(String name) {
    for (HashAlgorithm hash : values()) {
      if (hash.qemuName().equals(name)) {
        return hash;
      }
    }
    return null;
  }

  /**
   * A new JDK digest of this hash: its compression runs on the CPU's SHA instructions where the
   * JVM has them (HotSpot's SHA-1, SHA-256 and SHA-512 intrinsics).
   */
  MessageDigest newDigest() {
    if (jdkName == null) {
      throw new IllegalStateException("hash algorithm '" + qemuName() + "' is not supported by qcow4j");
    }
    try {
      return MessageDigest.getInstance(jdkName);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK has no " + jdkName, e);
    }
  }

  /** The digest of {@code data}. */
  public byte[] digest(byte[] data) {
    return newDigest().digest(data);
  }
}
