package io.qcow4j.contract;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Encryption;
import io.qcow4j.qcow2.QcowFile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** The contract over a qcow2 image with LUKS encryption (4 KiB clusters, so that requests cross many). */
class EncryptedQcowFileContractTest extends DiskFileContract {
  @Override
  DiskFile create(Path directory, long size) throws IOException {
    Encryption encryption = new Encryption("luks", null, null, null, null, null, 10L,
        "contract".getBytes(StandardCharsets.US_ASCII));
    return QcowFile.create(directory.resolve("disk.qcow2"),
        CreateOptions.builder(size).clusterSize(4096).encryption(encryption).build());
  }
}
