/** The NBD server of qcow4j: serves any {@link io.qcow4j.disk.DiskFile} as qemu-nbd serves an image. */
module io.qcow4j.nbd {
  requires transitive io.qcow4j.core;

  exports io.qcow4j.nbd;
}
