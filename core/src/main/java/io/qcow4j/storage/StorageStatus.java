package io.qcow4j.storage;

/**
 * The status of a run of bytes of a storage, as a protocol driver reports it to the format above
 * (QEMU's BDRV_BLOCK_DATA and BDRV_BLOCK_ZERO): {@code data} when host data backs it, {@code zero}
 * when it reads as zeros. A run that is neither is not allocated at this level (an NBD export's
 * hole under x-dirty-bitmap), which QEMU's map prints as not present.
 */
public record StorageStatus(long length, boolean data, boolean zero) {
  /** Checks the length. */
  public StorageStatus {
    if (length <= 0) {
      throw new IllegalArgumentException("status of " + length + " bytes");
    }
  }
}
