/**
 * The disk API: {@link io.qcow4j.disk.DiskFile}, a thread-safe virtual disk with positional and
 * vectored I/O, the block-device operations and the image-wide ones (snapshots, check, amend);
 * {@link io.qcow4j.disk.RawDiskFile}; the immutable open and create options; what info, map and
 * check report; and the exceptions, each naming the file and, where it applies, the offset.
 */
package io.qcow4j.disk;
