package io.qcow4j.qcow2.format;

import io.qcow4j.disk.CorruptImageException;
import java.nio.ByteBuffer;

/**
 * The full disk encryption header extension (0x0537be77): where the LUKS header of an image with
 * crypt_method 2 lies, in whole clusters of the image file. Checked as QEMU's
 * qcow2_read_extensions checks it, plus the area lying inside the file.
 */
public record CryptoHeader(long offset, long length) {
  /** The encoded length of the extension's data. */
  public static final int LENGTH = 16;

  /** Decodes and checks {@code extension} of an image with {@code cryptMethod}. */
  public static CryptoHeader decode(String file, HeaderExtension extension, int cryptMethod, int clusterSize,
      long fileSize) throws CorruptImageException {
    if (cryptMethod != Header.CRYPT_LUKS) {
      throw new CorruptImageException(file + ": CRYPTO header extension only expected with LUKS encryption method");
    }
    byte[] data = extension.data();
    if (data.length != LENGTH) {
      throw new CorruptImageException(file + ": CRYPTO header extension size " + data.length
          + ", but expected size " + LENGTH);
    }
    ByteBuffer in = ByteBuffer.wrap(data);
    long offset = in.getLong(0);
    long length = in.getLong(8);
    if (Long.remainderUnsigned(offset, clusterSize) != 0) {
      throw new CorruptImageException(file + ": Encryption header offset '" + Long.toUnsignedString(offset)
          + "' is not a multiple of cluster size '" + clusterSize + "'");
    }
    if (offset < clusterSize || length < 0 || offset < 0 || length > fileSize || offset > fileSize - length) {
      throw new CorruptImageException(file + ": the encryption header at offset " + Long.toUnsignedString(offset)
          + " (length " + Long.toUnsignedString(length) + ", crypto header extension) does not lie inside the file");
    }
    return new CryptoHeader(offset, length);
  }

  /** The crypto header extension of {@code header}, or null. */
  public static CryptoHeader of(Header header) {
    for (HeaderExtension extension : header.extensions()) {
      if (extension.type() == HeaderExtension.FULL_DISK_ENCRYPTION && extension.data().length == LENGTH) {
        ByteBuffer in = ByteBuffer.wrap(extension.data());
        return new CryptoHeader(in.getLong(0), in.getLong(8));
      }
    }
    return null;
  }

  /** The extension holding this area. */
  public HeaderExtension extension() {
    return new HeaderExtension(HeaderExtension.FULL_DISK_ENCRYPTION,
        ByteBuffer.allocate(LENGTH).putLong(offset).putLong(length).array());
  }
}
