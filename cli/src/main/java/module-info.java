/** The qcow4j command line: qemu-img, qemu-io and qemu-nbd commands over the qcow4j library. */
module io.qcow4j.cli {
  requires io.qcow4j.core;
  requires io.qcow4j.nbd;
  requires info.picocli;
  requires java.logging;
  // sun.misc.Signal: SIGUSR1 asks for a progress report, as it does of qemu-img
  requires jdk.unsupported;

  // picocli fills the commands' option fields and calls their methods by reflection
  opens io.qcow4j.cli to info.picocli;
}
