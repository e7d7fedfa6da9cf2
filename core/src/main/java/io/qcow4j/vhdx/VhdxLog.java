package io.qcow4j.vhdx;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.internal.formats.FormatReads;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;

/**
 * Finds the active sequence of a VHDX log (MS-VHDX section 2.3.3, "Log Replay"): the valid entry
 * with the highest sequence number is the head, its tail field names the first entry of the
 * sequence, and every entry from there to the head must be valid with consecutive sequence
 * numbers. The log is a circular buffer of 4 KiB sectors; nothing here writes.
 */
final class VhdxLog {
  /**
   * The most log bytes read and checksummed while searching, as a multiple of the log's length: a
   * hostile log whose every sector claims to start a log-sized entry stops here.
   */
  private static final long SEARCH_BUDGET_LOGS = 8;

  private final Storage storage;
  private final long logOffset;
  private final long logLength;
  private final UUID logGuid;
  private long budget;

  private VhdxLog(Storage storage, VhdxHeader header) {
    this.storage = storage;
    this.logOffset = header.logOffset();
    this.logLength = header.logLength();
    this.logGuid = header.logGuid();
    this.budget = SEARCH_BUDGET_LOGS * logLength;
  }

  /**
   * The entries of the active sequence of the log {@code header} describes, in replay order; empty
   * when the log holds none. The caller has checked the log's offset, length and version.
   */
  static List<LogEntry> activeSequence(Storage storage, VhdxHeader header) throws IOException {
    if (header.logGuid().equals(VhdxGuid.ZERO) || header.logLength() == 0) {
      return List.of();
    }
    return new VhdxLog(storage, header).search();
  }

  private record Candidate(long position, LogEntry.Header header) {}

  private List<LogEntry> search() throws IOException {
    List<Candidate> candidates = new ArrayList<>();
    for (long position = 0; position < logLength; position += LogEntry.SECTOR) {
      LogEntry.Header header = LogEntry.header(FormatReads.readOrZero(storage, logOffset + position, 64));
      if (header.problem(logLength, logGuid) == null) {
        candidates.add(new Candidate(position, header));
      }
    }
    candidates.sort(Comparator.comparing((Candidate candidate) -> candidate.header().sequenceNumber(),
        Long::compareUnsigned).reversed());
    for (Candidate head : candidates) {
      List<LogEntry> sequence = sequenceEndingAt(head);
      if (sequence != null) {
        return sequence;
      }
    }
    return List.of();
  }

  /** The sequence from {@code head}'s tail to it, or null when one of its entries is not valid. */
  private List<LogEntry> sequenceEndingAt(Candidate head) throws IOException {
    if (entry(head.position(), head.header()) == null || head.header().tail() >= logLength
        || head.header().tail() % LogEntry.SECTOR != 0) {
      return null;
    }
    List<LogEntry> sequence = new ArrayList<>();
    long position = head.header().tail();
    long expected = -1;
    for (long walked = 0; walked <= logLength; ) {
      LogEntry.Header header = LogEntry.header(FormatReads.readOrZero(storage, logOffset + position, 64));
      if (header.problem(logLength, logGuid) != null
          || (expected != -1 && header.sequenceNumber() != expected)) {
        return null;
      }
      LogEntry entry = entry(position, header);
      if (entry == null) {
        return null;
      }
      sequence.add(entry);
      if (position == head.position()) {
        return header.sequenceNumber() == head.header().sequenceNumber() ? sequence : null;
      }
      expected = header.sequenceNumber() + 1;
      walked += header.entryLength();
      position = (position + header.entryLength()) % logLength;
    }
    return null;
  }

  /** The whole entry at {@code position} of the log (wrapping at its end), or null when it is not valid. */
  private LogEntry entry(long position, LogEntry.Header header) throws IOException {
    long length = header.entryLength();
    budget -= length;
    if (budget < 0) {
      throw new ImageLimitException(storage.name() + ": log at offset " + logOffset + " (" + logLength
          + " bytes): its entries would be read more than " + SEARCH_BUDGET_LOGS + " times over while searching");
    }
    if (length > FormatReads.MAX_TABLE_BYTES) {
      throw new ImageLimitException(storage.name() + ": log entry at offset " + (logOffset + position) + " of "
          + length + " bytes is larger than the limit of " + FormatReads.MAX_TABLE_BYTES + " bytes");
    }
    byte[] bytes = new byte[(int) length];
    long first = Math.min(length, logLength - position);
    System.arraycopy(FormatReads.readOrZero(storage, logOffset + position, (int) first), 0, bytes, 0, (int) first);
    if (first < length) {
      System.arraycopy(FormatReads.readOrZero(storage, logOffset, (int) (length - first)), 0, bytes, (int) first,
          (int) (length - first));
    }
    return LogEntry.decode(header, bytes);
  }

  /**
   * The file as the entries leave it, without changing it: {@code storage} under their writes, at
   * least as long as their last_file_offset. An entry whose flushed_file_offset lies past the end
   * of the file means the file was truncated ({@link CorruptImageException}, as QEMU refuses it).
   */
  static Storage replayed(Storage storage, List<LogEntry> sequence) throws IOException {
    long fileSize = storage.size();
    LogOverlayStorage overlay = new LogOverlayStorage(storage);
    for (LogEntry entry : sequence) {
      if (Long.compareUnsigned(entry.flushedFileOffset(), fileSize) > 0) {
        throw new CorruptImageException(storage.name() + ": log entry " + entry.sequenceNumber()
            + ": flushed_file_offset " + Long.toUnsignedString(entry.flushedFileOffset())
            + " lies past the end of the file (" + fileSize + " bytes): the image has been truncated");
      }
      for (LogEntry.Write write : entry.writes()) {
        overlay.put(write);
      }
      if (entry.lastFileOffset() > 0) {
        overlay.extendTo(entry.lastFileOffset());
      }
    }
    return overlay;
  }
}
