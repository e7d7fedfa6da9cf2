package io.qcow4j.ops;

import java.util.Arrays;

/** Zero detection over byte arrays, sector by sector as qemu-img counts. */
final class Buffers {
  static final int SECTOR = 512;
  /** qemu-img's IO_BUF_SIZE: the most that compare and convert read at once. */
  static final int IO_BUFFER_BYTES = 2 << 20;
  private static final byte[] ZEROS = new byte[IO_BUFFER_BYTES];

  private Buffers() {}

  /** Whether {@code length} bytes of {@code buffer} from {@code from} are all zero. */
  static boolean isZero(byte[] buffer, int from, int length) {
    int checked = 0;
    while (checked < length) {
      int step = Math.min(length - checked, ZEROS.length);
      if (Arrays.mismatch(buffer, from + checked, from + checked + step, ZEROS, 0, step) >= 0) {
        return false;
      }
      checked += step;
    }
    return true;
  }

  /** The start of the first sector (counted from {@code from}) holding a non-zero byte, relative to {@code from}; -1 if none. */
  static int firstNonZeroSector(byte[] buffer, int from, int length) {
    int checked = 0;
    while (checked < length) {
      int step = Math.min(length - checked, ZEROS.length);
      int index = Arrays.mismatch(buffer, from + checked, from + checked + step, ZEROS, 0, step);
      if (index >= 0) {
        return alignDown(checked + index);
      }
      checked += step;
    }
    return -1;
  }

  /** The start of the first sector (relative to the buffers' starts) where the two differ; -1 if none. */
  static int firstDifferentSector(byte[] first, byte[] second, int length) {
    int index = Arrays.mismatch(first, 0, length, second, 0, length);
    return index < 0 ? -1 : alignDown(index);
  }

  private static int alignDown(int index) {
    return index / SECTOR * SECTOR;
  }
}
