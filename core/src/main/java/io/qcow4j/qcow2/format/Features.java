package io.qcow4j.qcow2.format;

/** The feature bits of the qcow2 v3 header that this engine knows. */
public final class Features {
  private Features() {}

  public static final long INCOMPAT_DIRTY = 1L;
  public static final long INCOMPAT_CORRUPT = 1L << 1;
  public static final long INCOMPAT_DATA_FILE = 1L << 2;
  public static final long INCOMPAT_COMPRESSION_TYPE = 1L << 3;
  public static final long INCOMPAT_EXTENDED_L2 = 1L << 4;
  public static final long INCOMPAT_KNOWN = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE
      | INCOMPAT_COMPRESSION_TYPE | INCOMPAT_EXTENDED_L2;

  public static final long COMPAT_LAZY_REFCOUNTS = 1L;

  public static final long AUTOCLEAR_BITMAPS = 1L;
  public static final long AUTOCLEAR_DATA_FILE_RAW = 1L << 1;
  public static final long AUTOCLEAR_KNOWN = AUTOCLEAR_BITMAPS | AUTOCLEAR_DATA_FILE_RAW;

  /** The kinds of feature bit, as numbered in the feature-name table. */
  public enum Kind {
    INCOMPATIBLE, COMPATIBLE, AUTOCLEAR
  }

  /** The name QEMU gives a known feature bit, or null. */
  public static String knownName(Kind kind, int bit) {
    return switch (kind) {
      case INCOMPATIBLE -> switch (bit) {
        case 0 -> "dirty bit";
        case 1 -> "corrupt bit";
        case 2 -> "external data file";
        case 3 -> "compression type";
        case 4 -> "extended L2 entries";
        default -> null;
      };
      case COMPATIBLE -> bit == 0 ? "lazy refcounts" : null;
      case AUTOCLEAR -> switch (bit) {
        case 0 -> "bitmaps";
        case 1 -> "raw external data";
        default -> null;
      };
    };
  }
}
