package io.qcow4j.write;

import static org.junit.jupiter.api.Assertions.fail;

import io.qcow4j.disk.DiskFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** What a disk must read as: a plain byte array that the tests change alongside the image. */
final class DiskModel {
  private byte[] bytes;

  DiskModel(long size) {
    this.bytes = new byte[Math.toIntExact(size)];
  }

  DiskModel(byte[] content) {
    this.bytes = content.clone();
  }

  long size() {
    return bytes.length;
  }

  /** The content now (a copy). */
  byte[] snapshot() {
    return bytes.clone();
  }

  /** The bytes of [offset, offset + length) now (a copy). */
  byte[] range(long offset, int length) {
    return Arrays.copyOfRange(bytes, (int) offset, (int) offset + length);
  }

  byte at(long offset) {
    return bytes[(int) offset];
  }

  void write(long offset, byte[] data) {
    System.arraycopy(data, 0, bytes, (int) offset, data.length);
  }

  void zero(long offset, long length) {
    Arrays.fill(bytes, (int) offset, (int) (offset + length), (byte) 0);
  }

  /** Grows with zeros or cuts the end off. */
  void resize(long newSize) {
    bytes = Arrays.copyOf(bytes, Math.toIntExact(newSize));
  }

  /** Writes the model as a raw image, for qemu-img compare. */
  Path writeRaw(Path file) throws IOException {
    Files.write(file, bytes);
    return file;
  }

  /** Reads [offset, offset + length) through {@code disk} and fails, naming the first differing offset, unless it matches. */
  void assertReads(DiskFile disk, long offset, int length, String context) throws IOException {
    ByteBuffer actual = ByteBuffer.allocate(length);
    disk.readFully(actual, offset);
    assertSame(actual.array(), 0, bytes, (int) offset, length, offset, context);
  }

  /** Reads the whole disk and compares it, in 1 MiB pieces. */
  void assertWholeDisk(DiskFile disk, String context) throws IOException {
    if (disk.size() != bytes.length) {
      fail(context + ": disk size " + disk.size() + " but the model has " + bytes.length + " bytes");
    }
    for (long offset = 0; offset < bytes.length; offset += 1 << 20) {
      assertReads(disk, offset, (int) Math.min(1 << 20, bytes.length - offset), context);
    }
  }

  static void assertSame(byte[] actual, int actualFrom, byte[] expected, int expectedFrom, int length,
      long guestOffset, String context) {
    int mismatch = Arrays.mismatch(actual, actualFrom, actualFrom + length, expected, expectedFrom, expectedFrom + length);
    if (mismatch >= 0) {
      int runEnd = mismatch;
      while (runEnd < length && actual[actualFrom + runEnd] != expected[expectedFrom + runEnd]) {
        runEnd++;
      }
      fail(String.format("%s: content differs at guest offset %d (0x%x): read 0x%02x, expected 0x%02x"
              + " (a run of %d differing bytes)", context, guestOffset + mismatch, guestOffset + mismatch,
          actual[actualFrom + mismatch] & 0xff, expected[expectedFrom + mismatch] & 0xff, runEnd - mismatch));
    }
  }
}
