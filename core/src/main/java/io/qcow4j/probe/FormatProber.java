package io.qcow4j.probe;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;

/**
 * Names the format of an image file as QEMU 7.2 probes it: every format driver scores the first
 * 512 bytes (and dmg the file name), the highest score wins, raw scores 1 and so wins only when
 * nothing else matches. Pure functions over those bytes, apart from {@link #probe(Path)}.
 */
public final class FormatProber {
  /** QEMU's BLOCK_PROBE_BUF_SIZE: probing sees this many bytes, a shorter file padded with zeros. */
  public static final int PROBE_BYTES = 512;

  /** The formats this prober can name, QEMU's driver names; "raw" is the one that always matches. */
  public static final List<String> FORMATS = List.of(
      "qcow2", "qcow", "qed", "vmdk", "vhdx", "vpc", "vdi", "luks", "parallels", "dmg", "bochs", "cloop", "raw");

  private static final String CLOOP_MAGIC =
      "#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n";

  private FormatProber() {}

  /** The format of the file at {@code path}; an empty file is raw, as QEMU takes it without probing. */
  public static String probe(Path path) throws IOException {
    try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
      // read rather than ask the size, which a block device reports as 0
      ByteBuffer start = ByteBuffer.allocate(PROBE_BYTES);
      while (start.hasRemaining() && channel.read(start, start.position()) > 0) {
        // keep reading until the buffer is full or the file ends
      }
      return start.position() == 0 ? "raw" : probe(start.array(), path.toString());
    }
  }

  /**
   * The format whose probe scores {@code start} (the file's first bytes; only the first
   * {@link #PROBE_BYTES} count, fewer are padded with zeros) highest; {@code filename} (nullable)
   * is the name QEMU was given, which only dmg looks at. Ties go to the earlier entry of {@link #FORMATS}
   * (a cloop file named x.dmg is dmg, as with qemu-img).
   */
  public static String probe(byte[] start, String filename) {
    byte[] sector = Arrays.copyOf(start, PROBE_BYTES);
    String best = null;
    int bestScore = 0;
    for (String format : FORMATS) {
      int score = score(format, sector, filename);
      if (score > bestScore) {
        best = format;
        bestScore = score;
      }
    }
    return best;
  }

  /** The score QEMU's probe function of {@code format} gives the 512-byte {@code sector}. */
  private static int score(String format, byte[] sector, String filename) {
    return switch (format) {
      // qcow2_probe and qcow_probe: the same magic, told apart by the version
      case "qcow2" -> startsWith(sector, "QFI\u00fb")
          && Integer.compareUnsigned(bigEndianInt(sector, 4), 2) >= 0 ? 100 : 0;
      case "qcow" -> startsWith(sector, "QFI\u00fb") && bigEndianInt(sector, 4) == 1 ? 100 : 0;
      case "qed" -> startsWith(sector, "QED\0") ? 100 : 0;
      case "vmdk" -> startsWith(sector, "KDMV") || startsWith(sector, "COWD") || isVmdkDescriptor(sector) ? 100 : 0;
      case "vhdx" -> startsWith(sector, "vhdxfile") ? 100 : 0;
      // vpc_probe looks at offset 0 only: a fixed VHD, whose footer is at the end, probes as raw
      case "vpc" -> startsWith(sector, "conectix") ? 100 : 0;
      case "vdi" -> littleEndianInt(sector, 0x40) == 0xbeda107f ? 100 : 0;
      case "luks" -> startsWith(sector, "LUKS\u00ba\u00be") && bigEndianShort(sector, 6) == 1 ? 100 : 0;
      case "parallels" -> (startsWith(sector, "WithoutFreeSpace") || startsWith(sector, "WithouFreSpacExt"))
          && littleEndianInt(sector, 16) == 2 ? 100 : 0;
      case "dmg" -> filename != null && filename.length() > 4 && filename.endsWith(".dmg") ? 2 : 0;
      case "bochs" -> isBochsGrowingRedolog(sector) ? 100 : 0;
      case "cloop" -> startsWith(sector, CLOOP_MAGIC) ? 2 : 0;
      case "raw" -> 1;
      default -> throw new IllegalArgumentException("no probe for format '" + format + "'");
    };
  }

  /**
   * vmdk_probe's test for a descriptor file: comment lines and lines of spaces may come first, then
   * the first other line must be "version=1", "version=2" or "version=3" (LF or CRLF ended).
   */
  private static boolean isVmdkDescriptor(byte[] sector) {
    int position = 0;
    int end = sector.length;
    while (position < end) {
      if (sector[position] == '#') {
        while (position < end && sector[position] != '\n') {
          position++;
        }
        position++;
        continue;
      }
      if (sector[position] == ' ') {
        while (position < end && sector[position] == ' ') {
          position++;
        }
        if (position < end && sector[position] == '\r') {
          position++;
        }
        if (position == end || sector[position] != '\n') {
          return false;
        }
        position++;
        continue;
      }
      for (String version : List.of("version=1", "version=2", "version=3")) {
        if (startsWith(sector, position, version + "\n") || startsWith(sector, position, version + "\r\n")) {
          return true;
        }
      }
      return false;
    }
    return false;
  }

  /** bochs_probe: the magic, type and subtype as NUL-terminated strings in their fields, version 1 or 2. */
  private static boolean isBochsGrowingRedolog(byte[] sector) {
    int version = littleEndianInt(sector, 64);
    return isCString(sector, 0, "Bochs Virtual HD Image") && isCString(sector, 32, "Redolog")
        && isCString(sector, 48, "Growing") && (version == 0x00020000 || version == 0x00010000);
  }

  private static boolean isCString(byte[] bytes, int offset, String text) {
    return startsWith(bytes, offset, text) && bytes[offset + text.length()] == 0;
  }

  private static boolean startsWith(byte[] bytes, String prefix) {
    return startsWith(bytes, 0, prefix);
  }

  /** Whether {@code bytes} hold {@code text} (its chars taken as bytes 0..255) at {@code offset}. */
  private static boolean startsWith(byte[] bytes, int offset, String text) {
    byte[] expected = text.getBytes(StandardCharsets.ISO_8859_1);
    return offset + expected.length <= bytes.length
        && Arrays.equals(bytes, offset, offset + expected.length, expected, 0, expected.length);
  }

  private static int bigEndianInt(byte[] bytes, int offset) {
    return ByteBuffer.wrap(bytes).getInt(offset);
  }

  private static int bigEndianShort(byte[] bytes, int offset) {
    return Short.toUnsignedInt(ByteBuffer.wrap(bytes).getShort(offset));
  }

  private static int littleEndianInt(byte[] bytes, int offset) {
    return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getInt(offset);
  }
}
