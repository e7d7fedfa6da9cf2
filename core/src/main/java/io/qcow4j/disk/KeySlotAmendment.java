package io.qcow4j.disk;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A change of a LUKS volume's key slots, as qemu-img amend's state, new-secret, old-secret,
 * keyslot and iter-time options give it (encrypt.* for qcow2): the values as given, checked when
 * the image is amended with QEMU 7.2's rules and messages (crypto/block-luks.c's amend), since
 * QEMU checks them only once it knows the image is encrypted. Secrets are named by id and looked
 * up in {@link #secrets()} when needed. Immutable; the secrets are copied in and out.
 */
public final class KeySlotAmendment {
  private final String state;
  private final String newSecret;
  private final String oldSecret;
  private final Long keyslot;
  private final Long iterTimeMillis;
  private final boolean force;
  private final Map<String, byte[]> secrets;

  private KeySlotAmendment(String state, String newSecret, String oldSecret, Long keyslot, Long iterTimeMillis,
      boolean force, Map<String, byte[]> secrets) {
    this.state = state;
    this.newSecret = newSecret;
    this.oldSecret = oldSecret;
    this.keyslot = keyslot;
    this.iterTimeMillis = iterTimeMillis;
    this.force = force;
    Map<String, byte[]> copy = new HashMap<>();
    secrets.forEach((id, bytes) -> copy.put(Objects.requireNonNull(id, "secret id"), bytes.clone()));
    this.secrets = copy;
  }

  /**
   * A change with the given options, null where not given: {@code state} as written ("active" or
   * "inactive"; anything else is refused when amended), {@code keyslot} and {@code iterTimeMillis}
   * as the 64-bit values QEMU's option parser gives (a negative keyslot is refused when amended).
   */
  public static KeySlotAmendment of(String state, String newSecret, String oldSecret, Long keyslot,
      Long iterTimeMillis) {
    return new KeySlotAmendment(state, newSecret, oldSecret, keyslot, iterTimeMillis, false, Map.of());
  }

  /** This change, overriding QEMU's safety refusals or not (qemu-img amend --force). */
  public KeySlotAmendment withForce(boolean value) {
    return new KeySlotAmendment(state, newSecret, oldSecret, keyslot, iterTimeMillis, value, secrets);
  }

  /** This change with the secrets it may name, by id (copied). */
  public KeySlotAmendment withSecrets(Map<String, byte[]> value) {
    return new KeySlotAmendment(state, newSecret, oldSecret, keyslot, iterTimeMillis, force, value);
  }

  /** The state asked for, as written. */
  public Optional<String> state() {
    return Optional.ofNullable(state);
  }

  /** The id of the secret to store in a slot. */
  public Optional<String> newSecret() {
    return Optional.ofNullable(newSecret);
  }

  /** The id of the secret whose slots are to be erased. */
  public Optional<String> oldSecret() {
    return Optional.ofNullable(oldSecret);
  }

  /** The slot to change, as given. */
  public OptionalLong keyslot() {
    return keyslot == null ? OptionalLong.empty() : OptionalLong.of(keyslot);
  }

  /** The PBKDF time of a new slot in milliseconds, as given (an unsigned 64-bit value). */
  public OptionalLong iterTimeMillis() {
    return iterTimeMillis == null ? OptionalLong.empty() : OptionalLong.of(iterTimeMillis);
  }

  /** Whether QEMU's safety refusals are overridden. */
  public boolean force() {
    return force;
  }

  /** The secrets this change may name, by id (copies). */
  public Map<String, byte[]> secrets() {
    Map<String, byte[]> copy = new HashMap<>();
    secrets.forEach((id, bytes) -> copy.put(id, bytes.clone()));
    return copy;
  }

  /** A copy of the secret {@code id}, or QEMU's "No secret with id '...'". */
  public byte[] secret(String id) throws InvalidOptionException {
    byte[] bytes = secrets.get(id);
    if (bytes == null) {
      throw new InvalidOptionException("No secret with id '" + id + "'");
    }
    return bytes.clone();
  }

  @Override
  public boolean equals(Object other) {
    if (!(other instanceof KeySlotAmendment that) || force != that.force || !Objects.equals(state, that.state)
        || !Objects.equals(newSecret, that.newSecret) || !Objects.equals(oldSecret, that.oldSecret)
        || !Objects.equals(keyslot, that.keyslot) || !Objects.equals(iterTimeMillis, that.iterTimeMillis)
        || !secrets.keySet().equals(that.secrets.keySet())) {
      return false;
    }
    for (Map.Entry<String, byte[]> entry : secrets.entrySet()) {
      if (!Arrays.equals(entry.getValue(), that.secrets.get(entry.getKey()))) {
        return false;
      }
    }
    return true;
  }

  @Override
  public int hashCode() {
    return Objects.hash(state, newSecret, oldSecret, keyslot, iterTimeMillis, force, secrets.keySet());
  }

  /** The options, never the secrets' contents. */
  @Override
  public String toString() {
    return "KeySlotAmendment[state=" + state + ", newSecret=" + newSecret + ", oldSecret=" + oldSecret + ", keyslot="
        + keyslot + ", iterTime=" + iterTimeMillis + ", force=" + force + ", secrets=" + secrets.keySet() + "]";
  }
}
