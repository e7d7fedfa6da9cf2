package io.qcow4j.luks;

import io.qcow4j.crypto.CipherAlgorithm;
import io.qcow4j.crypto.CipherMode;
import io.qcow4j.crypto.CipherSpec;
import io.qcow4j.crypto.CryptoException;
import io.qcow4j.crypto.HashAlgorithm;
import io.qcow4j.crypto.IvGenAlgorithm;
import io.qcow4j.crypto.LuksHeader;
import io.qcow4j.crypto.LuksKeySlot;
import io.qcow4j.crypto.LuksKeys;
import io.qcow4j.crypto.SectorCiphers;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.Encryption;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.InvalidSecretException;
import io.qcow4j.storage.Storage;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A LUKS volume inside a host file, at {@code base} (0 for a raw LUKS image, the encryption header's
 * offset in a qcow2 image): its header read and checked, the master key unlocked, the key material
 * written; what QEMU's block/crypto.c and qcow2's encryption share.
 */
public final class LuksVolume {
  private LuksVolume() {}

  /** Reads and checks the LUKS header at {@code base} of {@code storage}, whose length is {@code length}. */
  public static LuksHeader readHeader(Storage storage, long base, long length, String name) throws IOException {
    if (length < LuksHeader.LENGTH) {
      throw new CorruptImageException(name + ": the LUKS header area of " + length + " bytes is shorter than a header");
    }
    byte[] bytes = new byte[LuksHeader.LENGTH];
    try {
      storage.readFully(ByteBuffer.wrap(bytes), base);
    } catch (EOFException e) {
      throw new CorruptImageException(name + ": file is too short for a LUKS header", e);
    }
    LuksHeader header = LuksHeader.decode(bytes, name);
    // what QEMU would read past the end of its area: refused before any key material is read
    for (int i = 0; i < LuksHeader.KEY_SLOTS; i++) {
      LuksKeySlot slot = header.slots().get(i);
      if (slot.active() && slot.keyOffset() + header.keyMaterialLength(slot) > length) {
        throw new CorruptImageException(name + ": LUKS key slot " + i + " key material at offset " + slot.keyOffset()
            + " (" + header.keyMaterialLength(slot) + " bytes) ends past the end of the LUKS area (" + length
            + " bytes)");
      }
    }
    return header;
  }

  /** The key material I/O of the volume at {@code base} of {@code storage}. */
  public static LuksKeys.KeyMaterial material(Storage storage, long base) {
    return new LuksKeys.KeyMaterial() {
      @Override
      public void read(long offset, byte[] buffer, int length) throws IOException {
        storage.readOrZero(ByteBuffer.wrap(buffer, 0, length), base + offset);
      }

      @Override
      public void write(long offset, byte[] buffer, int length) throws IOException {
        storage.write(ByteBuffer.wrap(buffer, 0, length), base + offset);
      }
    };
  }

  /**
   * The sector ciphers of the volume, unlocked with {@code password} (cleared here), or QEMU's
   * failures: "Parameter 'PREFIXkey-secret' is required for cipher" without one, "Invalid password,
   * cannot unlock any keyslot" when it opens no slot.
   */
  public static SectorCiphers unlock(LuksHeader header, Storage storage, long base, byte[] password,
      String optionPrefix, String name) throws IOException {
    if (password == null) {
      throw new InvalidSecretException(name + ": Parameter '" + optionPrefix + "key-secret' is required for cipher");
    }
    byte[] masterKey = null;
    try {
      masterKey = LuksKeys.unlock(header, utf8Password(password, name), material(storage, base));
      if (masterKey == null) {
        throw new InvalidSecretException(name + ": Invalid password, cannot unlock any keyslot");
      }
      return new SectorCiphers(header.cipherSpec(), masterKey);
    } catch (CryptoException e) {
      throw new CorruptImageException(name + ": " + e.getMessage());
    } finally {
      Arrays.fill(password, (byte) 0);
      if (masterKey != null) {
        Arrays.fill(masterKey, (byte) 0);
      }
    }
  }

  /**
   * The password as QEMU takes a secret (qcrypto_secret_lookup_as_utf8, then strlen): the bytes up
   * to the first NUL. {@code password} itself is returned when it has none.
   */
  private static byte[] utf8Password(byte[] password, String name) {
    for (int i = 0; i < password.length; i++) {
      if (password[i] == 0) {
        return Arrays.copyOf(password, i);
      }
    }
    return password;
  }

  /** What qemu-img info shows of {@code header} (QEMU's QCryptoBlockInfoLUKS). */
  public static ImageInfo.LuksInfo info(LuksHeader header) {
    CipherSpec spec = header.cipherSpec();
    List<ImageInfo.LuksSlotInfo> slots = new ArrayList<>();
    for (LuksKeySlot slot : header.slots()) {
      slots.add(new ImageInfo.LuksSlotInfo(slot.active(), slot.active() ? slot.iterations() : null,
          slot.active() ? slot.stripes() : null, slot.keyOffset()));
    }
    return new ImageInfo.LuksInfo(spec.cipher().qemuName(), spec.mode().qemuName(), spec.ivgen().qemuName(),
        spec.ivgen() == IvGenAlgorithm.ESSIV ? spec.ivgenHash().qemuName() : null, header.hash().qemuName(),
        header.payloadOffset(), header.masterKeyIterations(), header.uuid(), slots);
  }

  /**
   * The parameters of a new volume from {@code encryption}'s names, QEMU's defaults for those not
   * given, with QEMU's messages for names it does not know.
   */
  public static LuksKeys.Parameters parameters(Encryption encryption) throws InvalidOptionException {
    CipherAlgorithm cipher = encryption.cipherAlg() == null ? CipherAlgorithm.AES_256
        : CipherAlgorithm.parse(encryption.cipherAlg());
    if (cipher == null) {
      throw notAccepted("cipher-alg", encryption.cipherAlg());
    }
    CipherMode mode = encryption.cipherMode() == null ? CipherMode.XTS : CipherMode.parse(encryption.cipherMode());
    if (mode == null) {
      throw notAccepted("cipher-mode", encryption.cipherMode());
    }
    IvGenAlgorithm ivgen = encryption.ivgenAlg() == null ? IvGenAlgorithm.PLAIN64
        : IvGenAlgorithm.parse(encryption.ivgenAlg());
    if (ivgen == null) {
      throw notAccepted("ivgen-alg", encryption.ivgenAlg());
    }
    HashAlgorithm ivgenHash = null;
    if (encryption.ivgenHashAlg() != null) {
      ivgenHash = hash("ivgen-hash-alg", encryption.ivgenHashAlg());
    } else if (ivgen == IvGenAlgorithm.ESSIV) {
      ivgenHash = HashAlgorithm.SHA256;
    }
    HashAlgorithm hash = encryption.hashAlg() == null ? HashAlgorithm.SHA256 : hash("hash-alg", encryption.hashAlg());
    if (cipher.luksName() == null) {
      throw new InvalidOptionException("Algorithm '" + cipher.qemuName() + "' not supported");
    }
    CipherSpec spec;
    try {
      spec = CipherSpec.of(cipher, mode, ivgen, ivgenHash);
    } catch (CryptoException e) {
      throw new InvalidOptionException(e.getMessage());
    }
    if (!cipher.supported()) {
      throw new InvalidOptionException("cipher '" + cipher.qemuName() + "' is not supported by qcow4j");
    }
    if (spec.keyLength() % 16 != 0) {
      // 4000 stripes of a 24-byte key are no whole sectors: QEMU 7.2 aborts on an assertion
      throw new InvalidOptionException("cipher '" + cipher.qemuName() + "' in mode '" + mode.qemuName()
          + "' makes key material of no whole sectors, which QEMU 7.2 cannot write (it aborts)");
    }
    if (!hash.supported() || (ivgenHash != null && !ivgenHash.supported())) {
      throw new InvalidOptionException("hash algorithm 'ripemd160' is not supported by qcow4j");
    }
    long iterTime = encryption.iterTimeMillis() == null ? LuksKeys.DEFAULT_ITER_TIME_MS : encryption.iterTimeMillis();
    return new LuksKeys.Parameters(spec, hash, iterTime);
  }

  private static HashAlgorithm hash(String option, String name) throws InvalidOptionException {
    HashAlgorithm hash = HashAlgorithm.parse(name);
    if (hash == null) {
      throw notAccepted(option, name);
    }
    return hash;
  }

  private static InvalidOptionException notAccepted(String option, String value) {
    return new InvalidOptionException("Parameter '" + option + "' does not accept value '" + value + "'");
  }
}
