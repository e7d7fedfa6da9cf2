/**
 * The storage SPI: {@link io.qcow4j.storage.Storage}, positional I/O on one host file, the only
 * seam through which the engine touches bytes, and {@link io.qcow4j.storage.MemoryStorage}, storage
 * held in memory. Host files are opened by the library itself.
 */
package io.qcow4j.storage;
