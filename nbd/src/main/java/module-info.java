/**
 * The NBD server and client of qcow4j: serves any {@link io.qcow4j.disk.DiskFile} as qemu-nbd
 * serves an image, and opens NBD exports as QEMU's nbd protocol driver does.
 */
module io.qcow4j.nbd {
  requires transitive io.qcow4j.core;

  exports io.qcow4j.nbd;

  provides io.qcow4j.storage.ProtocolDriver with io.qcow4j.nbd.NbdProtocolDriver, io.qcow4j.nbd.SshProtocolDriver;
}
