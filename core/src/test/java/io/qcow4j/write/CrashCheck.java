package io.qcow4j.write;

import static org.junit.jupiter.api.Assertions.fail;

import io.qcow4j.disk.DiskFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.TreeSet;

/** What a crash survivor may read as, given the last completed force and the changes made since. */
final class CrashCheck {
  private CrashCheck() {}

  /** One operation of a workload, by the events it spans and what the guest range reads as after it. */
  record Change(String description, long startEvent, long endEvent, long offset, byte[] after) {}

  /** A completed force(): the event count when it returned and the disk it made durable. */
  record Forced(long event, byte[] content) {}

  /**
   * Each byte reads as it was at the last completed force, or as some change since then (up to the
   * cut) left it; bytes no change since touched read exactly as forced.
   */
  static void assertContent(DiskFile image, Forced last, List<Change> since, String context)
      throws IOException {
    long size = image.size();
    byte[] forcedContent = last.content();
    TreeSet<Long> allowedSizes = new TreeSet<>();
    allowedSizes.add((long) forcedContent.length);
    for (Change change : since) {
      if (change.description().startsWith("resize")) {
        allowedSizes.add(change.offset() + change.after().length);
      }
    }
    if (!allowedSizes.contains(size)) {
      fail(context + "\nthe survivor's size is " + size + ", not one of " + allowedSizes);
    }
    ByteBuffer all = ByteBuffer.allocate((int) size);
    image.readFully(all, 0);
    byte[] actual = all.array();
    for (int offset = 0; offset < size; offset++) {
      byte value = actual[offset];
      if (offset < forcedContent.length && value == forcedContent[offset]) {
        continue;
      }
      boolean explained = false;
      for (Change change : since) {
        long at = offset - change.offset();
        if (at >= 0 && at < change.after().length && change.after()[(int) at] == value) {
          explained = true;
          break;
        }
      }
      if (!explained) {
        StringBuilder touching = new StringBuilder();
        for (Change change : since) {
          if (offset >= change.offset() && offset < change.offset() + change.after().length) {
            touching.append("\n    ").append(change.description());
          }
        }
        int runEnd = offset;
        while (runEnd < size && runEnd - offset < 1 << 20 && (runEnd >= forcedContent.length
            || actual[runEnd] != forcedContent[runEnd])) {
          runEnd++;
        }
        fail(String.format("%s%nguest offset %d (0x%x) reads 0x%02x: neither what the force at event %d made"
                + " durable (0x%02x) nor what any later change wrote there; about %d bytes from there differ"
                + " from the forced content; changes since that touch it:%s",
            context, offset, offset, value & 0xff, last.event(),
            offset < forcedContent.length ? forcedContent[offset] & 0xff : 0, runEnd - offset,
            touching.length() == 0 ? " none" : touching));
      }
    }
  }

}
