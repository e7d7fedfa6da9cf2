package io.qcow4j.ops;

import io.qcow4j.internal.storage.FileStorage;
import java.io.IOException;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The holes of a local file inside a range that convert copies from a mapping of it (lseek's
 * SEEK_HOLE and SEEK_DATA): they read as zeros, so the copy judges them so without touching their
 * pages; a mapped hole costs a page of the page cache filled with zeros per 4 KiB on the first
 * read (and the file system's read-ahead around it), which a VHDX block of mostly zeros, or the
 * holes of a fixed VHD or static VDI, would otherwise pay in full.
 */
final class HostHoles {
  /**
   * The files found to hold no hole at all (their first hole is their end), which are not asked
   * again: a copy asks once per file rather than twice per chunk. The sources of a copy are not
   * written while it runs.
   */
  private final Map<FileStorage, Boolean> whole = new ConcurrentHashMap<>();

  /**
   * {@link #find}, unless {@code file} was found to hold no hole: then null at once. Thread-safe.
   */
  long[] in(FileStorage file, long host, int length) throws IOException {
    if (whole.containsKey(file)) {
      return null;
    }
    if (file.nextHole(0) >= file.size()) {
      whole.put(file, Boolean.TRUE);
      return null;
    }
    return find(file, host, length);
  }

  /**
   * The holes of {@code file} inside {@code [host, host + length)}, as {@code [from, to)} pairs of
   * offsets from {@code host} in ascending order; null when there are none (or the file system
   * does not tell).
   */
  static long[] find(FileStorage file, long host, int length) throws IOException {
    long end = host + length;
    long hole = file.nextHole(host);
    if (hole >= end) {
      return null;
    }
    long[] holes = new long[4];
    int count = 0;
    while (hole < end) {
      long data = Math.min(end, file.nextData(hole));
      if (data <= hole) {
        break;
      }
      if (count == holes.length) {
        holes = Arrays.copyOf(holes, count * 2);
      }
      holes[count++] = hole - host;
      holes[count++] = data - host;
      if (data >= end) {
        break;
      }
      hole = file.nextHole(data);
    }
    return count == 0 ? null : Arrays.copyOf(holes, count);
  }
}
