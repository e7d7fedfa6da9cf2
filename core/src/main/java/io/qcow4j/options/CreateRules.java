package io.qcow4j.options;

import io.qcow4j.disk.Compat;
import io.qcow4j.disk.CompressionType;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.Preallocation;

/**
 * The checks qemu-img 7.2 makes of a new image's options, in its order and with its messages
 * (qcow2_co_create for qcow2, the file driver for raw). qemu-img create, convert and the library's
 * create calls all go through here.
 */
public final class CreateRules {
  static final int MIN_CLUSTER_SIZE = 512;
  static final int MAX_CLUSTER_SIZE = 2 << 20;
  static final int MIN_EXTENDED_L2_CLUSTER_SIZE = 16384;
  private static final String NEEDS_V3 = " compatibility level 1.1 and above (use version=v3 or greater)";

  private CreateRules() {}

  /** Checks the options of a new qcow2 image. */
  public static void checkQcow2(CreateOptions options) throws InvalidOptionException {
    checkQcow2(options, options.backingFormat() != null);
  }

  /** Checks the options of a new raw image: only the size and the preallocation apply. */
  public static void checkRaw(CreateOptions options) throws InvalidOptionException {
    if (options.preallocation() == Preallocation.METADATA) {
      throw new InvalidOptionException("Unsupported preallocation mode: metadata");
    }
  }

  /** qcow2_co_create's checks; {@code backingFormatGiven} even when the format is one qcow4j does not open. */
  static void checkQcow2(CreateOptions options, boolean backingFormatGiven) throws InvalidOptionException {
    boolean v2 = options.compat() == Compat.V2;
    if (options.extendedL2() && v2) {
      throw new InvalidOptionException("Extended L2 entries are only supported with" + NEEDS_V3);
    }
    checkClusterSize(options.clusterSize(), options.extendedL2());
    if (options.backingFile() != null && options.preallocation() != Preallocation.OFF && !options.extendedL2()) {
      throw new InvalidOptionException(
          "Backing file and preallocation can only be used at the same time if extended_l2 is on");
    }
    if (backingFormatGiven && options.backingFile() == null) {
      throw new InvalidOptionException("Backing format cannot be used without backing file");
    }
    if (v2 && options.lazyRefcounts()) {
      throw new InvalidOptionException("Lazy refcounts only supported with" + NEEDS_V3);
    }
    int refcountBits = options.refcountBits();
    if (refcountBits <= 0 || refcountBits > 64 || Integer.bitCount(refcountBits) != 1) {
      throw new InvalidOptionException("Refcount width must be a power of two and may not exceed 64 bits");
    }
    if (v2 && refcountBits != 16) {
      throw new InvalidOptionException("Different refcount widths than 16 bits require compatibility level 1.1 or"
          + " above (use version=v3 or greater)");
    }
    if (options.dataFileRaw() && options.dataFile() == null) {
      throw new InvalidOptionException("data-file-raw requires data-file");
    }
    if (options.dataFileRaw() && options.backingFile() != null) {
      throw new InvalidOptionException("Backing file and data-file-raw cannot be used at the same time");
    }
    if (options.dataFile() != null && v2) {
      throw new InvalidOptionException("External data files are only supported with" + NEEDS_V3);
    }
    if (options.compressionType() != CompressionType.ZLIB && v2) {
      throw new InvalidOptionException("Non-zlib compression type is only supported with" + NEEDS_V3);
    }
  }

  /** validate_cluster_size: a power of two from 512 bytes to 2 MiB, at least 16 KiB with extended L2 entries. */
  static void checkClusterSize(long clusterSize, boolean extendedL2) throws InvalidOptionException {
    if (clusterSize < MIN_CLUSTER_SIZE || clusterSize > MAX_CLUSTER_SIZE || Long.bitCount(clusterSize) != 1) {
      throw new InvalidOptionException("Cluster size must be a power of two between 512 and 2048k");
    }
    if (extendedL2 && clusterSize < MIN_EXTENDED_L2_CLUSTER_SIZE) {
      throw new InvalidOptionException("Extended L2 entries are only supported with cluster sizes of at least "
          + MIN_EXTENDED_L2_CLUSTER_SIZE + " bytes");
    }
  }
}
