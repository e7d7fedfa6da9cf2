package io.qcow4j.crypto;

import java.util.Locale;

/** The block cipher modes QEMU's crypto layer names (QCryptoCipherMode). */
public enum CipherMode {
  ECB,
  CBC,
  XTS,
  CTR;

  /** QEMU's name ("xts"). */
  public String qemuName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The mode QEMU names {@code name}, or null. */
  public static CipherMode parse(String name) {
    for (CipherMode mode : values()) {
      if (mode.qemuName().equals(name)) {
        return mode;
      }
    }
    return null;
  }
}
