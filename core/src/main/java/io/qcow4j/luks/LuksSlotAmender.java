package io.qcow4j.luks;

import io.qcow4j.crypto.LuksHeader;
import io.qcow4j.crypto.LuksKeys;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.KeySlotAmendment;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * qemu-img amend of a LUKS volume's key slots, raw or inside qcow2: QEMU 7.2's rules, order and
 * messages (crypto/block-luks.c, qcrypto_block_luks_amend_options): activating stores the master
 * key under a new secret in a given or the first free slot; deactivating erases a given slot or
 * every slot an old secret opens, never the last active slot(s) without force.
 */
public final class LuksSlotAmender {
  private static final long DEFAULT_ITER_TIME_MS = LuksKeys.DEFAULT_ITER_TIME_MS;

  private final Storage storage;
  private final long base;
  private final LuksKeys.KeyMaterial material;
  private LuksHeader header;

  private LuksSlotAmender(Storage storage, long base, LuksHeader header) {
    this.storage = storage;
    this.base = base;
    this.material = LuksVolume.material(storage, base);
    this.header = header;
  }

  /**
   * Applies {@code change} to the volume at {@code base} of {@code storage} whose header is
   * {@code header} and whose master key is {@code masterKey} (the volume was unlocked with the
   * secret it was opened with, which QEMU uses to find the master key); returns the header as
   * written. Refusals are {@link InvalidOptionException}s with QEMU's message.
   */
  public static LuksHeader amend(Storage storage, long base, LuksHeader header, byte[] masterKey,
      KeySlotAmendment change) throws IOException {
    LuksSlotAmender amender = new LuksSlotAmender(storage, base, header);
    // the QAPI visitor's checks of the struct, then the driver's
    String state = change.state().orElseThrow(() -> new InvalidOptionException("Parameter 'state' is missing"));
    switch (state) {
      case "active" -> amender.activate(change, masterKey);
      case "inactive" -> amender.deactivate(change);
      default -> throw new InvalidOptionException("Parameter 'state' does not accept value '" + state + "'");
    }
    return amender.header;
  }

  /** qcrypto_block_luks_amend_add_keyslot. */
  private void activate(KeySlotAmendment change, byte[] masterKey) throws IOException {
    if (change.newSecret().isEmpty()) {
      throw new InvalidOptionException("'new-secret' is required to activate a keyslot");
    }
    if (change.oldSecret().isPresent()) {
      throw new InvalidOptionException("'old-secret' must not be given when activating keyslots");
    }
    int keyslot;
    if (change.keyslot().isPresent()) {
      keyslot = (int) change.keyslot().getAsLong();
      if (keyslot < 0 || keyslot >= LuksHeader.KEY_SLOTS) {
        // QEMU prints the slot number unsigned here
        throw new InvalidOptionException("Invalid keyslot " + Integer.toUnsignedString(keyslot)
            + " specified, must be between 0 and " + (LuksHeader.KEY_SLOTS - 1));
      }
    } else {
      keyslot = firstFreeSlot();
      if (keyslot < 0) {
        throw new InvalidOptionException("Can't add a keyslot - all keyslots are in use");
      }
    }
    if (!change.force() && header.slots().get(keyslot).active()) {
      throw new InvalidOptionException(
          "Refusing to overwrite active keyslot " + keyslot + " - please erase it first");
    }
    byte[] password = password(change, change.newSecret().get());
    long iterTime = change.iterTimeMillis().orElse(DEFAULT_ITER_TIME_MS);
    try {
      header = LuksKeys.storeKey(header, keyslot, password, masterKey, iterTime, material);
    } catch (InvalidOptionException e) {
      throw e;
    } catch (IOException e) {
      throw new InvalidOptionException(e.getMessage() + "\nFailed to write to keyslot " + keyslot);
    } finally {
      Arrays.fill(password, (byte) 0);
    }
    writeHeader();
  }

  /** qcrypto_block_luks_amend_erase_keyslots. */
  private void deactivate(KeySlotAmendment change) throws IOException {
    if (change.newSecret().isPresent()) {
      throw new InvalidOptionException("'new-secret' must not be given when erasing keyslots");
    }
    if (change.iterTimeMillis().isPresent()) {
      throw new InvalidOptionException("'iter-time' must not be given when erasing keyslots");
    }
    byte[] oldPassword = change.oldSecret().isPresent() ? password(change, change.oldSecret().get()) : null;
    try {
      if (change.keyslot().isPresent()) {
        eraseOne((int) change.keyslot().getAsLong(), oldPassword, change.force());
      } else if (oldPassword != null) {
        eraseMatching(oldPassword, change.force());
      } else {
        throw new InvalidOptionException("To erase keyslot(s), either explicit keyslot index or the password"
            + " currently contained in them must be given");
      }
    } finally {
      if (oldPassword != null) {
        Arrays.fill(oldPassword, (byte) 0);
      }
    }
  }

  private void eraseOne(int keyslot, byte[] oldPassword, boolean force) throws IOException {
    if (keyslot < 0 || keyslot >= LuksHeader.KEY_SLOTS) {
      throw new InvalidOptionException("Invalid keyslot " + keyslot + " specified, must be between 0 and "
          + (LuksHeader.KEY_SLOTS - 1));
    }
    if (oldPassword != null && !opens(keyslot, oldPassword)) {
      throw new InvalidOptionException("Given keyslot " + keyslot
          + " doesn't contain the given old password for erase operation");
    }
    if (!force && !header.slots().get(keyslot).active()) {
      // QEMU's message ends with a space
      throw new InvalidOptionException("Given keyslot " + keyslot + " is already erased (inactive) ");
    }
    if (!force && activeSlots() == 1) {
      throw new InvalidOptionException("Attempt to erase the only active keyslot " + keyslot
          + " which will erase all the data in the image irreversibly - refusing operation");
    }
    erase(keyslot);
  }

  private void eraseMatching(byte[] oldPassword, boolean force) throws IOException {
    List<Integer> matching = new ArrayList<>();
    for (int i = 0; i < LuksHeader.KEY_SLOTS; i++) {
      if (opens(i, oldPassword)) {
        matching.add(i);
      }
    }
    if (matching.isEmpty()) {
      throw new InvalidOptionException("No keyslots match given (old) password for erase operation");
    }
    if (!force && matching.size() == activeSlots()) {
      throw new InvalidOptionException("All the active keyslots match the (old) password that was given and"
          + " erasing them will erase all the data in the image irreversibly - refusing operation");
    }
    for (int keyslot : matching) {
      erase(keyslot);
    }
  }

  /** qcrypto_block_luks_erase_key: the slot cleared in the header first, then its key material overwritten. */
  private void erase(int keyslot) throws IOException {
    header = LuksKeys.clearSlot(header, keyslot);
    writeHeader();
    LuksKeys.wipeKeyMaterial(header, keyslot, material);
  }

  private boolean opens(int keyslot, byte[] password) throws IOException {
    byte[] key = LuksKeys.tryUnlock(header, keyslot, password, material);
    if (key == null) {
      return false;
    }
    Arrays.fill(key, (byte) 0);
    return true;
  }

  private int firstFreeSlot() {
    for (int i = 0; i < LuksHeader.KEY_SLOTS; i++) {
      if (!header.slots().get(i).active()) {
        return i;
      }
    }
    return -1;
  }

  private int activeSlots() {
    int count = 0;
    for (int i = 0; i < LuksHeader.KEY_SLOTS; i++) {
      if (header.slots().get(i).active()) {
        count++;
      }
    }
    return count;
  }

  private void writeHeader() throws IOException {
    storage.write(ByteBuffer.wrap(header.encode()), base);
  }

  /** The secret {@code id} as QEMU takes a passphrase (up to its first NUL). */
  private static byte[] password(KeySlotAmendment change, String id) throws InvalidOptionException {
    byte[] secret = change.secret(id);
    for (int i = 0; i < secret.length; i++) {
      if (secret[i] == 0) {
        byte[] cut = Arrays.copyOf(secret, i);
        Arrays.fill(secret, (byte) 0);
        return cut;
      }
    }
    return secret;
  }
}
