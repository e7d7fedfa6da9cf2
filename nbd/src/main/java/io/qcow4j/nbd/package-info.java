/**
 * The NBD server: {@link io.qcow4j.nbd.NbdServer} exports any {@link io.qcow4j.disk.DiskFile} over
 * TCP or a Unix socket with the newstyle handshake, structured replies, block status and the
 * commands and flags qemu-nbd serves.
 */
package io.qcow4j.nbd;
