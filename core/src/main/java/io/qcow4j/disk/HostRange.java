package io.qcow4j.disk;

import io.qcow4j.storage.Storage;

/**
 * Where a range of guest bytes lies byte for byte in a host file: the file's storage and the host
 * offset of the range's first byte (see {@link DiskFile#hostRange}).
 *
 * @param storage the host file
 * @param offset the host offset of the range's first byte
 */
public record HostRange(Storage storage, long offset) {}
