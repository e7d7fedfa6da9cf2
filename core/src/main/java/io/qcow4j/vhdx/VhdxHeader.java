package io.qcow4j.vhdx;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.UUID;

/**
 * One of the two VHDX headers (MS-VHDX section 2.2.2): the first 4 KiB of the 64 KiB blocks at
 * 64 KiB and 128 KiB, little-endian, checksummed over those 4 KiB; pure decoding and encoding.
 */
public record VhdxHeader(
    long signature,
    long sequenceNumber,
    UUID fileWriteGuid,
    UUID dataWriteGuid,
    UUID logGuid,
    int logVersion,
    int version,
    long logLength,
    long logOffset,
    boolean checksumValid) {

  /** The checksummed size of a header. */
  public static final int SIZE = 4096;
  /** "head" in ASCII, read little-endian. */
  public static final long SIGNATURE = 0x64616568L;
  /** Offsets of the first and the second header. */
  public static final long[] OFFSETS = {64 << 10, 128 << 10};

  /** Decodes the {@link #SIZE} bytes of a header; the checksum is checked, not enforced. */
  public static VhdxHeader decode(byte[] bytes) {
    ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    return new VhdxHeader(
        Integer.toUnsignedLong(buffer.getInt(0)),
        buffer.getLong(8),
        VhdxGuid.read(bytes, 16),
        VhdxGuid.read(bytes, 32),
        VhdxGuid.read(bytes, 48),
        Short.toUnsignedInt(buffer.getShort(64)),
        Short.toUnsignedInt(buffer.getShort(66)),
        Integer.toUnsignedLong(buffer.getInt(68)),
        buffer.getLong(72),
        VhdxChecksum.valid(bytes, 0, SIZE, 4));
  }

  /** Whether this header may be used: its checksum, signature and version (1) are right, as QEMU and the specification require. */
  public boolean usable() {
    return checksumValid && signature == SIGNATURE && version == 1;
  }

  /** The {@link #SIZE} bytes of this header, with its checksum. */
  public byte[] encode() {
    byte[] bytes = new byte[SIZE];
    ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    buffer.putInt(0, (int) signature);
    buffer.putLong(8, sequenceNumber);
    VhdxGuid.write(bytes, 16, fileWriteGuid);
    VhdxGuid.write(bytes, 32, dataWriteGuid);
    VhdxGuid.write(bytes, 48, logGuid);
    buffer.putShort(64, (short) logVersion);
    buffer.putShort(66, (short) version);
    buffer.putInt(68, (int) logLength);
    buffer.putLong(72, logOffset);
    VhdxChecksum.fill(bytes, 0, SIZE, 4);
    return bytes;
  }

  /** Whether this header and {@code other} hold the same fields (Disk2VHD writes two equal headers). */
  public boolean sameFields(VhdxHeader other) {
    return signature == other.signature && sequenceNumber == other.sequenceNumber
        && fileWriteGuid.equals(other.fileWriteGuid) && dataWriteGuid.equals(other.dataWriteGuid)
        && logGuid.equals(other.logGuid) && logVersion == other.logVersion && version == other.version
        && logLength == other.logLength && logOffset == other.logOffset;
  }
}
