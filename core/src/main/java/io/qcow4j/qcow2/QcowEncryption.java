package io.qcow4j.qcow2;

import io.qcow4j.crypto.LuksHeader;
import io.qcow4j.crypto.SectorCiphers;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.InvalidSecretException;
import io.qcow4j.disk.KeySlotAmendment;
import io.qcow4j.luks.LuksSlotAmender;
import io.qcow4j.luks.LuksVolume;
import io.qcow4j.qcow2.format.CryptoHeader;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A qcow2 image's LUKS encryption (crypt_method 2): the LUKS header in the clusters the crypto
 * header extension names, and the sector ciphers once unlocked. Data clusters are encrypted by
 * 512-byte sectors whose IV number is the host offset / 512 (QEMU's crypt_physical_offset, true
 * for LUKS: qcow2_co_encrypt passes the host offset, not the guest offset). Every data read and
 * write of the engine is whole sectors, since {@link QcowFile} aligns the requests of an encrypted
 * image to sectors (QEMU's request_alignment of 512).
 */
final class QcowEncryption implements AutoCloseable {
  static final int SECTOR = 512;

  private final CryptoHeader area;
  /** The LUKS header (as the last key slot amendment wrote it); null for the legacy AES method. */
  private volatile LuksHeader header;
  /** Null when the image was opened only to be described. */
  private final SectorCiphers ciphers;
  /** Whether the IV sector is the host offset's (LUKS) or the guest offset's (legacy AES). */
  private final boolean physical;

  QcowEncryption(CryptoHeader area, LuksHeader header, SectorCiphers ciphers) {
    this(area, header, ciphers, true);
  }

  private QcowEncryption(CryptoHeader area, LuksHeader header, SectorCiphers ciphers, boolean physical) {
    this.area = area;
    this.header = header;
    this.ciphers = ciphers;
    this.physical = physical;
  }

  /**
   * The legacy AES-CBC method (crypt_method 1, QEMU's crypto/block-qcow.c): AES-128 in CBC mode
   * with plain64 IVs numbered by guest sector, keyed by the passphrase's first 16 bytes (up to its
   * first NUL, zero-padded); {@code password} is cleared. Null ciphers when {@code describeOnly}.
   */
  static QcowEncryption legacyAes(byte[] password, boolean describeOnly, String name) throws IOException {
    if (describeOnly) {
      return new QcowEncryption(null, null, null, false);
    }
    if (password == null) {
      throw new io.qcow4j.disk.InvalidSecretException(name + ": Parameter 'encrypt.key-secret' is required for cipher");
    }
    byte[] key = new byte[16];
    try {
      int length = 0;
      while (length < password.length && password[length] != 0) {
        length++;
      }
      System.arraycopy(password, 0, key, 0, Math.min(length, 16));
      io.qcow4j.crypto.CipherSpec spec = io.qcow4j.crypto.CipherSpec.of(io.qcow4j.crypto.CipherAlgorithm.AES_128,
          io.qcow4j.crypto.CipherMode.CBC, io.qcow4j.crypto.IvGenAlgorithm.PLAIN64, null);
      return new QcowEncryption(null, null, new SectorCiphers(spec, key), false);
    } catch (io.qcow4j.crypto.CryptoException e) {
      throw new IOException(name + ": " + e.getMessage(), e);
    } finally {
      java.util.Arrays.fill(key, (byte) 0);
      java.util.Arrays.fill(password, (byte) 0);
    }
  }

  /** Whether the IV sector number is the host offset's (LUKS) rather than the guest offset's (AES). */
  boolean physical() {
    return physical;
  }

  /** Reads the LUKS header the extension names and unlocks it with {@code password} (cleared), unless {@code describeOnly}. */
  static QcowEncryption open(Storage storage, CryptoHeader area, byte[] password, boolean describeOnly, String name)
      throws IOException {
    LuksHeader header = LuksVolume.readHeader(storage, area.offset(), area.length(), name);
    SectorCiphers ciphers = describeOnly ? null
        : LuksVolume.unlock(header, storage, area.offset(), password, "encrypt.", name);
    return new QcowEncryption(area, header, ciphers);
  }

  CryptoHeader area() {
    return area;
  }

  boolean unlocked() {
    return ciphers != null;
  }

  /**
   * Decrypts, in place, what was just read into {@code slices} from host offset {@code hostOffset},
   * which holds guest offset {@code guestOffset}.
   */
  void decrypt(ByteBuffer[] slices, long hostOffset, long guestOffset) {
    long ivOffset = physical ? hostOffset : guestOffset;
    long total = 0;
    for (ByteBuffer slice : slices) {
      total += slice.remaining();
    }
    if (slices.length == 1 && slices[0].hasArray()) {
      ByteBuffer slice = slices[0];
      ciphers.decrypt(slice.array(), slice.arrayOffset() + slice.position(), slice.remaining(), ivOffset / SECTOR);
      return;
    }
    byte[] bytes = new byte[Math.toIntExact(total)];
    int at = 0;
    for (ByteBuffer slice : slices) {
      slice.get(slice.position(), bytes, at, slice.remaining());
      at += slice.remaining();
    }
    ciphers.decrypt(bytes, 0, bytes.length, ivOffset / SECTOR);
    at = 0;
    for (ByteBuffer slice : slices) {
      slice.put(slice.position(), bytes, at, slice.remaining());
      at += slice.remaining();
    }
  }

  /**
   * Writes {@code sources}, the data of guest offset {@code guestOffset}, encrypted at
   * {@code hostOffset} of {@code storage}; the buffers are not changed or moved.
   */
  void write(Storage storage, long hostOffset, long guestOffset, ByteBuffer... sources) throws IOException {
    long ivOffset = physical ? hostOffset : guestOffset;
    long total = 0;
    for (ByteBuffer source : sources) {
      total += source.remaining();
    }
    byte[] bytes = new byte[Math.toIntExact(total)];
    int at = 0;
    for (ByteBuffer source : sources) {
      source.get(source.position(), bytes, at, source.remaining());
      at += source.remaining();
    }
    ciphers.encrypt(bytes, 0, bytes.length, ivOffset / SECTOR);
    storage.write(ByteBuffer.wrap(bytes), hostOffset);
  }

  /** Whether this is the legacy AES method (crypt_method 1) rather than LUKS. */
  boolean legacy() {
    return header == null;
  }

  /**
   * Changes the LUKS key slots in the encryption area of {@code storage} as {@code change} says
   * (the master key this image was unlocked with is what a new slot stores).
   */
  void amendKeySlots(Storage storage, KeySlotAmendment change, String name) throws IOException {
    if (ciphers == null) {
      throw new InvalidSecretException(name + ": Parameter 'encrypt.key-secret' is required for cipher");
    }
    byte[] masterKey = ciphers.masterKey();
    try {
      header = LuksSlotAmender.amend(storage, area.offset(), header, masterKey, change);
    } finally {
      java.util.Arrays.fill(masterKey, (byte) 0);
    }
  }

  /** qemu-img info's encrypt block. */
  ImageInfo.EncryptionInfo info() {
    return header == null ? new ImageInfo.EncryptionInfo("aes", null)
        : new ImageInfo.EncryptionInfo("luks", LuksVolume.info(header));
  }

  @Override
  public void close() {
    if (ciphers != null) {
      ciphers.close();
    }
  }
}
