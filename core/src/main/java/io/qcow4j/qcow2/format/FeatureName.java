package io.qcow4j.qcow2.format;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** One entry of the feature-name table extension: the kind of bit, its number and its name. */
public record FeatureName(Features.Kind kind, int bit, String name) {
  private static final int ENTRY_BYTES = 48;
  private static final int NAME_BYTES = 46;

  /**
   * Decodes the table's entries as QEMU reads them: the extension zero-padded to whole entries (a
   * last entry cut short keeps what it has), up to the first entry with an empty name; kinds this
   * engine does not know are skipped.
   */
  public static List<FeatureName> decodeTable(byte[] data) {
    List<FeatureName> names = new ArrayList<>();
    byte[] padded = java.util.Arrays.copyOf(data, (data.length + ENTRY_BYTES - 1) / ENTRY_BYTES * ENTRY_BYTES);
    for (int at = 0; at + ENTRY_BYTES <= padded.length; at += ENTRY_BYTES) {
      int kind = padded[at] & 0xff;
      int bit = padded[at + 1] & 0xff;
      int length = 0;
      while (length < NAME_BYTES && padded[at + 2 + length] != 0) {
        length++;
      }
      if (length == 0) {
        break;
      }
      String name = new String(padded, at + 2, length, StandardCharsets.UTF_8);
      if (kind < Features.Kind.values().length) {
        names.add(new FeatureName(Features.Kind.values()[kind], bit, name));
      }
    }
    return names;
  }

  /**
   * Whether QEMU writes the feature name table into an image of {@code clusterSize}: not for 4 KiB
   * clusters and smaller (qcow2_update_header leaves room for a backing file name there).
   */
  public static boolean tableWritten(int clusterSize) {
    return clusterSize > 4096;
  }

  /** Encodes a table with QEMU's entries for the features this engine knows. */
  public static byte[] encodeKnownTable() {
    List<FeatureName> names = new ArrayList<>();
    for (Features.Kind kind : Features.Kind.values()) {
      for (int bit = 0; bit < 64; bit++) {
        String name = Features.knownName(kind, bit);
        if (name != null) {
          names.add(new FeatureName(kind, bit, name));
        }
      }
    }
    ByteBuffer table = ByteBuffer.allocate(names.size() * ENTRY_BYTES);
    for (FeatureName entry : names) {
      int start = table.position();
      table.put((byte) entry.kind().ordinal()).put((byte) entry.bit());
      byte[] text = entry.name().getBytes(StandardCharsets.UTF_8);
      table.put(text, 0, Math.min(text.length, NAME_BYTES));
      table.position(start + ENTRY_BYTES);
    }
    return table.array();
  }
}
