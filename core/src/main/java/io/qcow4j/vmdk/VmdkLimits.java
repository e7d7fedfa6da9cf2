package io.qcow4j.vmdk;

/** What an untrusted VMDK may make us allocate or walk; each limit is named in the error that enforces it. */
final class VmdkLimits {
  /** Descriptor files larger than this are refused (QEMU reads only this much of one). */
  static final int MAX_DESCRIPTOR_BYTES = (1 << 20) - 1;
  /** Extents one descriptor may list (16 TiB in twoGbMaxExtent pieces). */
  static final int MAX_EXTENTS = 8192;
  /** Grain table entries per grain table (QEMU's limit for hosted sparse extents). */
  static final long MAX_GTES_PER_GT = 512;
  /** Grain size in sectors (QEMU's "Invalid granularity" bound, 1 GiB). */
  static final long MAX_GRAIN_SECTORS = 0x200000;
  /** Grain size of a compressed extent, whose grains are inflated in memory. */
  static final long MAX_COMPRESSED_GRAIN_BYTES = 16L << 20;
  /** Grain directory entries of one extent (32 MiB of directory). */
  static final long MAX_GD_ENTRIES = 8L << 20;
  /** The largest guest size in sectors whose byte size fits a long. */
  static final long MAX_SECTORS = Long.MAX_VALUE >> 9;

  private VmdkLimits() {}
}
