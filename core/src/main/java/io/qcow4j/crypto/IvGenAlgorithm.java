package io.qcow4j.crypto;

import java.util.Locale;

/** The sector IV generators QEMU's crypto layer names (QCryptoIVGenAlgorithm). */
public enum IvGenAlgorithm {
  /** The sector number's low 32 bits, little-endian. */
  PLAIN,
  /** The sector number, 64 bits little-endian. */
  PLAIN64,
  /** The sector number encrypted under the hash of the key (dm-crypt's ESSIV). */
  ESSIV;

  /** QEMU's name ("plain64"). */
  public String qemuName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The generator QEMU names {@code name}, or null. */
  public static IvGenAlgorithm parse(String name) {
    for (IvGenAlgorithm ivgen : values()) {
      if (ivgen.qemuName().equals(name)) {
        return ivgen;
      }
    }
    return null;
  }
}
