package io.qcow4j.vhdx;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * One VHDX log entry (MS-VHDX section 2.3.1): a 64-byte header, its descriptors (zero and data
 * descriptors, 32 bytes each, from byte 64 of the entry's first 4 KiB sector on) and one data
 * sector per data descriptor after them; pure decoding and encoding of the entry's bytes.
 */
public record LogEntry(long sequenceNumber, long tail, long entryLength, UUID logGuid, long flushedFileOffset,
    long lastFileOffset, List<Write> writes) {

  /** The log's sector size. */
  public static final int SECTOR = 4096;
  /** "loge", "zero", "desc" and "data" read little-endian. */
  public static final int SIGNATURE = 0x65676f6c;
  static final int ZERO_SIGNATURE = 0x6f72657a;
  static final int DESC_SIGNATURE = 0x63736564;
  static final int DATA_SIGNATURE = 0x61746164;
  private static final int HEADER_SIZE = 64;
  private static final int DESCRIPTOR_SIZE = 32;

  /** One change the entry makes to the file: {@code data} (4 KiB) at {@code fileOffset}, or {@code zeroLength} zeros there when data is null. */
  public record Write(long fileOffset, byte[] data, long zeroLength) {
    /** The number of bytes the change covers. */
    public long length() {
      return data == null ? zeroLength : data.length;
    }
  }

  /** The fields of an entry's header, checked before the entry is read whole. */
  public record Header(int signature, long checksum, long entryLength, long tail, long sequenceNumber,
      long descriptorCount, UUID logGuid, long flushedFileOffset, long lastFileOffset) {
    /** The number of 4 KiB sectors that hold the header and the descriptors. */
    public long descriptorSectors() {
      return (descriptorCount + 2 + 127) / 128;
    }

    /**
     * Why the header cannot begin an entry of a log of {@code logLength} bytes whose header names
     * {@code logGuid} (QEMU's vhdx_log_hdr_is_valid), or null when it can.
     */
    public String problem(long logLength, UUID activeLogGuid) {
      if (signature != SIGNATURE) {
        return "no 'loge' signature";
      }
      if (entryLength == 0 || entryLength > logLength || entryLength % SECTOR != 0) {
        return "entry_length " + entryLength + " is not a multiple of 4096 within the log";
      }
      if (sequenceNumber == 0) {
        return "sequence_number is zero";
      }
      if (!logGuid.equals(activeLogGuid)) {
        return "log_guid does not match the header's";
      }
      if (descriptorSectors() * SECTOR > entryLength) {
        return "descriptor_count " + descriptorCount + " does not fit in the entry";
      }
      return null;
    }
  }

  /** Decodes the header at the start of {@code sector} (at least 64 bytes). */
  public static Header header(byte[] sector) {
    ByteBuffer buffer = ByteBuffer.wrap(sector).order(ByteOrder.LITTLE_ENDIAN);
    return new Header(buffer.getInt(0), Integer.toUnsignedLong(buffer.getInt(4)),
        Integer.toUnsignedLong(buffer.getInt(8)), Integer.toUnsignedLong(buffer.getInt(12)), buffer.getLong(16),
        Integer.toUnsignedLong(buffer.getInt(24)), VhdxGuid.read(sector, 32), buffer.getLong(48),
        buffer.getLong(56));
  }

  /**
   * Decodes a whole entry ({@code header.entryLength()} bytes, its sectors in log order), or
   * returns null when it is not valid: a wrong checksum, a descriptor or data sector that does not
   * belong to it, an unaligned offset, or more data descriptors than data sectors.
   */
  public static LogEntry decode(Header header, byte[] entry) {
    if (!VhdxChecksum.valid(entry, 0, entry.length, 4)) {
      return null;
    }
    ByteBuffer buffer = ByteBuffer.wrap(entry).order(ByteOrder.LITTLE_ENDIAN);
    long dataSector = header.descriptorSectors();
    List<Write> writes = new ArrayList<>();
    for (long i = 0; i < header.descriptorCount(); i++) {
      int at = (int) (HEADER_SIZE + i * DESCRIPTOR_SIZE);
      int signature = buffer.getInt(at);
      long fileOffset = buffer.getLong(at + 16);
      if (buffer.getLong(at + 24) != header.sequenceNumber() || fileOffset % SECTOR != 0 || fileOffset < 0) {
        return null;
      }
      if (signature == ZERO_SIGNATURE) {
        long zeroLength = buffer.getLong(at + 8);
        if (zeroLength % SECTOR != 0 || zeroLength < 0 || zeroLength > Long.MAX_VALUE - fileOffset) {
          return null;
        }
        writes.add(new Write(fileOffset, null, zeroLength));
      } else if (signature == DESC_SIGNATURE) {
        if ((dataSector + 1) * SECTOR > entry.length) {
          return null;
        }
        int sector = (int) (dataSector * SECTOR);
        long sequence = Integer.toUnsignedLong(buffer.getInt(sector + 4)) << 32
            | Integer.toUnsignedLong(buffer.getInt(sector + SECTOR - 4));
        if (buffer.getInt(sector) != DATA_SIGNATURE || sequence != header.sequenceNumber()) {
          return null;
        }
        byte[] data = new byte[SECTOR];
        System.arraycopy(entry, at + 8, data, 0, 8);
        System.arraycopy(entry, sector + 8, data, 8, SECTOR - 12);
        System.arraycopy(entry, at + 4, data, SECTOR - 4, 4);
        writes.add(new Write(fileOffset, data, 0));
        dataSector++;
      } else {
        return null;
      }
    }
    return new LogEntry(header.sequenceNumber(), header.tail(), header.entryLength(), header.logGuid(),
        header.flushedFileOffset(), header.lastFileOffset(), List.copyOf(writes));
  }

  /**
   * The bytes of an entry making {@code writes} (data writes of 4 KiB, zero writes of whole
   * sectors), as the specification lays it out: header, descriptors, data sectors; with its checksum.
   */
  public static byte[] encode(long sequenceNumber, long tail, UUID logGuid, long flushedFileOffset,
      long lastFileOffset, List<Write> writes) {
    long descriptorSectors = (writes.size() + 2 + 127) / 128;
    long dataSectors = writes.stream().filter(write -> write.data() != null).count();
    int length = (int) ((descriptorSectors + dataSectors) * SECTOR);
    byte[] entry = new byte[length];
    ByteBuffer buffer = ByteBuffer.wrap(entry).order(ByteOrder.LITTLE_ENDIAN);
    buffer.putInt(0, SIGNATURE);
    buffer.putInt(8, length);
    buffer.putInt(12, (int) tail);
    buffer.putLong(16, sequenceNumber);
    buffer.putInt(24, writes.size());
    VhdxGuid.write(entry, 32, logGuid);
    buffer.putLong(48, flushedFileOffset);
    buffer.putLong(56, lastFileOffset);
    int sector = (int) (descriptorSectors * SECTOR);
    for (int i = 0; i < writes.size(); i++) {
      Write write = writes.get(i);
      int at = HEADER_SIZE + i * DESCRIPTOR_SIZE;
      buffer.putLong(at + 16, write.fileOffset());
      buffer.putLong(at + 24, sequenceNumber);
      if (write.data() == null) {
        buffer.putInt(at, ZERO_SIGNATURE);
        buffer.putLong(at + 8, write.zeroLength());
        continue;
      }
      buffer.putInt(at, DESC_SIGNATURE);
      System.arraycopy(write.data(), SECTOR - 4, entry, at + 4, 4);
      System.arraycopy(write.data(), 0, entry, at + 8, 8);
      buffer.putInt(sector, DATA_SIGNATURE);
      buffer.putInt(sector + 4, (int) (sequenceNumber >>> 32));
      System.arraycopy(write.data(), 8, entry, sector + 8, SECTOR - 12);
      buffer.putInt(sector + SECTOR - 4, (int) sequenceNumber);
      sector += SECTOR;
    }
    VhdxChecksum.fill(entry, 0, length, 4);
    return entry;
  }
}
