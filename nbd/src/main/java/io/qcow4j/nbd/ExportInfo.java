package io.qcow4j.nbd;

import java.util.List;

/**
 * What a server says of one export: its name and description (null when it sent none), size,
 * transmission flags, block sizes (0 when it sent none) and the metadata contexts it lists (empty
 * when not asked or not supported).
 */
public record ExportInfo(String name, String description, long size, int flags, int minBlock, int optBlock,
    int maxBlock, List<String> contexts) {

  /** The names qemu-nbd --list gives the transmission flags, by bit (null where it has none). */
  private static final String[] FLAG_NAMES = {
    null, "readonly", "flush", "fua", "rotational", "trim", "zeroes", "df", "multi", "resize", "cache", "fast-zero",
  };

  public ExportInfo {
    contexts = List.copyOf(contexts);
  }

  /** Whether the export refuses writes. */
  public boolean readOnly() {
    return (flags & Protocol.FLAG_READ_ONLY) != 0;
  }

  /** Whether the server sent its transmission flags (NBD_FLAG_HAS_FLAGS). */
  public boolean hasFlags() {
    return (flags & Protocol.FLAG_HAS_FLAGS) != 0;
  }

  /** The names of the set flags in bit order, as qemu-nbd --list prints them ("readonly flush fua"). */
  public List<String> flagNames() {
    java.util.ArrayList<String> names = new java.util.ArrayList<>();
    for (int bit = 0; bit < FLAG_NAMES.length; bit++) {
      if (FLAG_NAMES[bit] != null && (flags & (1 << bit)) != 0) {
        names.add(FLAG_NAMES[bit]);
      }
    }
    return names;
  }

  ExportInfo withNameAndDescription(String newName, String newDescription) {
    return new ExportInfo(newName, newDescription, size, flags, minBlock, optBlock, maxBlock, contexts);
  }

  ExportInfo withContexts(List<String> newContexts) {
    return new ExportInfo(name, description, size, flags, minBlock, optBlock, maxBlock, newContexts);
  }
}
