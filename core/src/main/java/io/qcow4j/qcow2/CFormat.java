package io.qcow4j.qcow2;

/** Numbers as QEMU's messages print them with C's printf conversions. */
final class CFormat {
  private CFormat() {}

  /** C's {@code %#x}/{@code %#PRIx64}: "0x" and lowercase hex digits, but a bare "0" for zero. */
  static String hex(long value) {
    return value == 0 ? "0" : "0x" + Long.toHexString(value);
  }
}
