/**
 * qcow4j: qcow2 and raw disk images in pure Java. {@link io.qcow4j.DiskImages} opens and creates
 * images, {@link io.qcow4j.disk.DiskFile} reads and writes them, {@code io.qcow4j.ops} runs the
 * whole-image operations of qemu-img, and {@link io.qcow4j.storage.Storage} lets an embedder supply
 * its own storage. The native calls (fallocate, lseek, preadv/pwritev, the OFD image locks) need
 * {@code --enable-native-access=io.qcow4j.core}.
 */
@SuppressWarnings("module") // the qualified exports name modules built after this one
module io.qcow4j.core {
  requires com.github.luben.zstd_jni;
  requires java.management; // thread CPU time, for the PBKDF2 iteration count of a new LUKS key slot

  exports io.qcow4j;
  exports io.qcow4j.disk;
  exports io.qcow4j.ops;
  exports io.qcow4j.qcow2;
  // image specs (file names, json:{...}, --image-opts) and secrets: DiskImages.open takes them
  exports io.qcow4j.spec;
  exports io.qcow4j.storage;

  // protocol drivers of other modules (nbd): image spec nodes whose driver core does not have
  uses io.qcow4j.storage.ProtocolDriver;

  // The -o option lists of qemu-img, read into CreateOptions and AmendOptions: the cli's for now.
  exports io.qcow4j.options to io.qcow4j.cli;
  // QEMU's dictionaries and JSON, which the cli prints its JSON with
  exports io.qcow4j.internal.spec to io.qcow4j.cli;
  // NativeCalls: the command line links the native calls on a thread of its own at start-up
  exports io.qcow4j.internal.storage to io.qcow4j.cli;
}
