package io.qcow4j.crypto;

/**
 * One of a LUKS1 header's eight key slots, as stored: the active word, the PBKDF2 iterations and
 * salt, where the key material starts (in 512-byte sectors) and its anti-forensic stripes.
 */
public record LuksKeySlot(int activeWord, long iterations, byte[] salt, long keyOffsetSector, long stripes) {
  /** The active word of a slot holding a key. */
  public static final int ENABLED = 0x00AC71F3;
  /** The active word of an empty slot. */
  public static final int DISABLED = 0x0000DEAD;

  public LuksKeySlot {
    salt = salt.clone();
  }

  /** Whether this slot holds a key. */
  public boolean active() {
    return activeWord == ENABLED;
  }

  /** The PBKDF2 salt (a copy). */
  @Override
  public byte[] salt() {
    return salt.clone();
  }

  /** The byte offset of the key material in the LUKS volume. */
  public long keyOffset() {
    return keyOffsetSector * LuksHeader.SECTOR_SIZE;
  }

  /** This slot with another state, iterations, salt. */
  public LuksKeySlot with(int newActiveWord, long newIterations, byte[] newSalt) {
    return new LuksKeySlot(newActiveWord, newIterations, newSalt, keyOffsetSector, stripes);
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof LuksKeySlot that && activeWord == that.activeWord && iterations == that.iterations
        && java.util.Arrays.equals(salt, that.salt) && keyOffsetSector == that.keyOffsetSector
        && stripes == that.stripes;
  }

  @Override
  public int hashCode() {
    return java.util.Objects.hash(activeWord, iterations, java.util.Arrays.hashCode(salt), keyOffsetSector, stripes);
  }

  @Override
  public String toString() {
    return "LuksKeySlot[active=" + active() + ", iterations=" + iterations + ", keyOffsetSector=" + keyOffsetSector
        + ", stripes=" + stripes + "]";
  }
}
