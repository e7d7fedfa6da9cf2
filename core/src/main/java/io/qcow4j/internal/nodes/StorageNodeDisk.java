package io.qcow4j.internal.nodes;

import io.qcow4j.disk.DiskFile;

/**
 * A protocol node opened without a format above it ("file", "null-co", "blkdebug" as the spec's
 * driver): its storage read as a raw disk, reported under the protocol's name as QEMU reports it.
 */
final class StorageNodeDisk extends ForwardingDiskFile {
  StorageNodeDisk(DiskFile raw, String driver) {
    super(raw, driver);
  }
}
