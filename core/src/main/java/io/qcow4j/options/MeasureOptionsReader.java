package io.qcow4j.options;

import io.qcow4j.disk.Compat;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.Encryption;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.Preallocation;

/**
 * The options of the image qemu-img measure sizes, read as qcow2_measure and raw_measure read them:
 * fewer checks than create makes, in another order and with other messages (compat takes only
 * "0.10" and "1.1" here).
 */
public final class MeasureOptionsReader {
  private MeasureOptionsReader() {}

  /**
   * The qcow2 image's options; {@code size} (--size, or -1 when not given) replaces the size
   * option. Encrypted (LUKS) images are refused.
   */
  public static CreateOptions qcow2(OptionValues values, long size) throws InvalidOptionException {
    boolean extendedL2 = values.bool("extended_l2", false);
    long clusterSize = values.number("cluster_size", 65536);
    CreateRules.checkClusterSize(clusterSize, extendedL2);
    Compat compat = Compat.V3;
    String compatName = values.string("compat");
    if (compatName != null) {
      compat = switch (compatName) {
        case "0.10" -> Compat.V2;
        case "1.1" -> Compat.V3;
        default -> throw new InvalidOptionException("Invalid compatibility level: '" + compatName + "'");
      };
    }
    long refcountBits = values.number("refcount_bits", 16);
    if (Long.compareUnsigned(refcountBits, 64) > 0 || Long.bitCount(refcountBits) != 1) {
      throw new InvalidOptionException("Refcount width must be a power of two and may not exceed 64 bits");
    }
    if (compat == Compat.V2 && refcountBits != 16) {
      throw new InvalidOptionException("Different refcount widths than 16 bits require compatibility level 1.1 or"
          + " above (use compat=1.1 or greater)");
    }
    Preallocation preallocation = Preallocation.OFF;
    String preallocationName = values.string("preallocation");
    if (preallocationName != null) {
      preallocation = Preallocation.fromName(preallocationName);
      if (preallocation == null) {
        throw new InvalidOptionException("invalid parameter value: " + preallocationName);
      }
    }
    // QEMU's measure counts a LUKS header only (qcow2_measure's has_luks); other encrypt.* are not read
    Encryption encryption = null;
    if ("luks".equals(values.string("encrypt.format"))) {
      encryption = new Encryption("luks", values.string("encrypt.cipher-alg"), values.string("encrypt.cipher-mode"),
          values.string("encrypt.ivgen-alg"), values.string("encrypt.ivgen-hash-alg"), values.string("encrypt.hash-alg"),
          values.has("encrypt.iter-time") ? values.number("encrypt.iter-time", 0) : null, null);
    }
    return CreateOptions.builder(size >= 0 ? size : values.number("size", 0))
        .encryption(encryption)
        .clusterSize((int) clusterSize)
        .compat(compat)
        .refcountBits((int) refcountBits)
        .extendedL2(extendedL2)
        .preallocation(preallocation)
        .backing(values.string("backing_file"), null)
        .build();
  }

  /** The raw image's size: {@code size} (--size, or -1 when not given), else the size option, else 0. */
  public static long raw(OptionValues values, long size) {
    return size >= 0 ? size : values.number("size", 0);
  }
}
