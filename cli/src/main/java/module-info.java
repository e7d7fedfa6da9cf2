/** The qcow4j command line: qemu-img, qemu-io and qemu-nbd commands over the qcow4j library. */
module io.qcow4j.cli {
  requires io.qcow4j.core;
  requires io.qcow4j.nbd;
  requires java.logging;
  // sun.misc.Signal: SIGUSR1 asks for a progress report, as it does of qemu-img
  requires jdk.unsupported;
}
