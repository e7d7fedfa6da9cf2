package io.qcow4j.vmdk.format;

import io.qcow4j.disk.CorruptImageException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;

/**
 * The text descriptor of a VMDK (VMware "Virtual Disk Format 5.0", section 4), read as QEMU 7.2's
 * block/vmdk.c reads it: each field is the first occurrence of its name anywhere in the text (as
 * strstr finds it), extent lines are matched like its sscanf pattern, and the text ends at the first
 * NUL byte. Pure functions over the bytes; {@code where} in messages names the file.
 */
public final class Descriptor {
  /** The bytes of a descriptor that QEMU reads for CID, parentCID and parentFileNameHint. */
  public static final int FIELD_BYTES = 20 * 512;
  /** The longest create type QEMU takes (its buffer holds 127 characters). */
  private static final int MAX_CREATE_TYPE = 127;
  /** The longest parent name QEMU takes (PATH_MAX less the NUL). */
  public static final int MAX_PARENT_NAME = 4095;
  /** The create types that name a descriptor file QEMU opens. */
  public static final Set<String> DESCRIPTOR_FILE_TYPES = Set.of("monolithicFlat", "vmfs", "vmfsSparse", "seSparse",
      "twoGbMaxExtentSparse", "twoGbMaxExtentFlat");
  private static final Set<String> EXTENT_TYPES = new HashSet<>(List.of(ExtentLine.FLAT, ExtentLine.SPARSE,
      ExtentLine.VMFS, ExtentLine.VMFS_SPARSE, ExtentLine.SE_SPARSE));

  private final String text;
  private final String where;

  private Descriptor(String text, String where) {
    this.text = text;
    this.where = where;
  }

  /** The descriptor in {@code bytes} (up to the first NUL), for messages about {@code where}. */
  public static Descriptor of(byte[] bytes, int length, String where) {
    int end = 0;
    while (end < length && bytes[end] != 0) {
      end++;
    }
    return new Descriptor(new String(bytes, 0, end, StandardCharsets.ISO_8859_1), where);
  }

  /** The same descriptor cut to its first {@code count} characters (what QEMU's fixed buffers hold). */
  public Descriptor prefix(int count) {
    return count >= text.length() ? this : new Descriptor(text.substring(0, count), where);
  }

  /** The text, one char per byte. */
  public String text() {
    return text;
  }

  /** The createType value; refused as QEMU refuses it ("invalid VMDK image descriptor") when missing or too long. */
  public String createType() throws CorruptImageException {
    int start = text.indexOf("createType");
    if (start >= 0) {
      int valueStart = start + "createType".length() + 2;
      int valueEnd = valueStart < text.length() ? text.indexOf('"', valueStart) : -1;
      if (valueEnd >= 0 && valueEnd - valueStart <= MAX_CREATE_TYPE) {
        return utf8(text.substring(valueStart, valueEnd));
      }
    }
    throw new CorruptImageException(where + ": invalid VMDK image descriptor");
  }

  /** The CID (or with {@code parent}, the parentCID) as QEMU reads it: hex after "CID=" at its first occurrence. */
  public long cid(boolean parent) throws CorruptImageException {
    String name = parent ? "parentCID" : "CID";
    int start = text.indexOf(name);
    if (start >= 0) {
      OptionalLong value = scanHex(start + name.length() + 1);
      if (value.isPresent()) {
        return value.getAsLong();
      }
    }
    throw new CorruptImageException(where + ": VMDK descriptor has no readable " + name + " field");
  }

  /** The parentFileNameHint value, or null when the descriptor names no parent. */
  public String parentFileNameHint() throws CorruptImageException {
    int start = text.indexOf("parentFileNameHint");
    if (start < 0) {
      return null;
    }
    int valueStart = start + "parentFileNameHint".length() + 2;
    int valueEnd = valueStart <= text.length() ? text.indexOf('"', valueStart) : -1;
    if (valueEnd < 0) {
      throw new CorruptImageException(where + ": VMDK descriptor's parentFileNameHint has no closing quote");
    }
    if (valueEnd - valueStart > MAX_PARENT_NAME) {
      throw new CorruptImageException(where + ": VMDK descriptor's parentFileNameHint is longer than "
          + MAX_PARENT_NAME + " bytes");
    }
    return utf8(text.substring(valueStart, valueEnd));
  }

  /**
   * The extent lines QEMU opens, in order: lines whose access is not RW, whose size is not positive
   * or whose type is unknown are passed over as QEMU passes them; a FLAT line without an offset (or a
   * negative one), a VMFS line with one, or another type with one fails with QEMU's "Invalid extent
   * line". At most {@code maxExtents} are taken.
   */
  public List<ExtentLine> extents(int maxExtents) throws CorruptImageException, io.qcow4j.disk.ImageLimitException {
    List<ExtentLine> extents = new ArrayList<>();
    int lineStart = 0;
    while (lineStart < text.length()) {
      int newline = text.indexOf('\n', lineStart);
      int next = newline < 0 ? text.length() : newline + 1;
      ExtentScan scan = new ExtentScan(text, lineStart);
      int matches = scan.run();
      if (matches >= 4 && scan.access.equals("RW")) {
        boolean flatType = scan.type.equals(ExtentLine.FLAT);
        boolean vmfs = scan.type.equals(ExtentLine.VMFS);
        long offset = scan.offset;
        if (flatType ? matches != 5 || offset < 0 : matches != 4) {
          String line = text.substring(lineStart, newline < 0 ? text.length() : newline);
          throw new CorruptImageException(where + ": Invalid extent line: " + utf8(line));
        }
        if (vmfs) {
          offset = 0;
        }
        if (scan.sectors > 0 && EXTENT_TYPES.contains(scan.type)) {
          if (extents.size() >= maxExtents) {
            throw new io.qcow4j.disk.ImageLimitException(where + ": VMDK descriptor has more than " + maxExtents
                + " extents");
          }
          extents.add(new ExtentLine(scan.access, scan.sectors, scan.type, utf8(scan.fileName),
              flatType || vmfs ? offset : 0));
        }
      }
      lineStart = next;
    }
    return extents;
  }

  private OptionalLong scanHex(int from) {
    int position = from;
    while (position < text.length() && isSpace(text.charAt(position))) {
      position++;
    }
    if (position + 1 < text.length() && text.charAt(position) == '0'
        && (text.charAt(position + 1) == 'x' || text.charAt(position + 1) == 'X')
        && position + 2 < text.length() && Character.digit(text.charAt(position + 2), 16) >= 0) {
      position += 2;
    }
    long value = 0;
    int digits = 0;
    boolean overflow = false;
    while (position < text.length() && Character.digit(text.charAt(position), 16) >= 0) {
      if ((value >>> 60) != 0) {
        overflow = true;
      }
      value = (value << 4) | Character.digit(text.charAt(position), 16);
      position++;
      digits++;
    }
    if (digits == 0) {
      return OptionalLong.empty();
    }
    // strtoul saturates; the 32-bit field keeps the low half
    return OptionalLong.of((overflow ? -1L : value) & 0xffffffffL);
  }

  static boolean isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x0b || c == '\f';
  }

  private static String utf8(String latin1) {
    return new String(latin1.getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8);
  }

  /** QEMU's sscanf(p, "%10s %ld %10s \"%511[^\n\r\"]\" %ld", ...) over the text from one line start. */
  private static final class ExtentScan {
    private final String text;
    private int position;
    String access;
    long sectors;
    String type;
    String fileName;
    long offset = -1;

    ExtentScan(String text, int position) {
      this.text = text;
      this.position = position;
    }

    int run() {
      access = word();
      if (access == null) {
        return 0;
      }
      Long number = number();
      if (number == null) {
        return 1;
      }
      sectors = number;
      type = word();
      if (type == null) {
        return 2;
      }
      skipSpace();
      if (!literal('"')) {
        return 3;
      }
      int start = position;
      while (position < text.length() && position - start < 511) {
        char c = text.charAt(position);
        if (c == '\n' || c == '\r' || c == '"') {
          break;
        }
        position++;
      }
      if (position == start) {
        return 3;
      }
      fileName = text.substring(start, position);
      if (!literal('"')) {
        return 4;
      }
      Long flatOffset = number();
      if (flatOffset == null) {
        return 4;
      }
      offset = flatOffset;
      return 5;
    }

    private void skipSpace() {
      while (position < text.length() && isSpace(text.charAt(position))) {
        position++;
      }
    }

    private boolean literal(char c) {
      if (position < text.length() && text.charAt(position) == c) {
        position++;
        return true;
      }
      return false;
    }

    private String word() {
      skipSpace();
      int start = position;
      while (position < text.length() && position - start < 10 && !isSpace(text.charAt(position))) {
        position++;
      }
      return position == start ? null : text.substring(start, position);
    }

    private Long number() {
      skipSpace();
      int start = position;
      boolean negative = false;
      if (position < text.length() && (text.charAt(position) == '+' || text.charAt(position) == '-')) {
        negative = text.charAt(position) == '-';
        position++;
      }
      long value = 0;
      int digits = 0;
      while (position < text.length() && text.charAt(position) >= '0' && text.charAt(position) <= '9') {
        int digit = text.charAt(position) - '0';
        value = value > (Long.MAX_VALUE - digit) / 10 ? Long.MAX_VALUE : value * 10 + digit;
        position++;
        digits++;
      }
      if (digits == 0) {
        position = start;
        return null;
      }
      return negative ? -value : value;
    }
  }
}
