package io.qcow4j.contract;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Encryption;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

/**
 * The contract over a qcow2 image with LUKS encryption (4 KiB clusters, so that requests cross
 * many). The image is created once (key slot set-up times PBKDF2 as QEMU does, about a second)
 * and copied for each test.
 */
class EncryptedQcowFileContractTest extends DiskFileContract {
  private static final String SECRET = "contract";
  @TempDir static Path templateDirectory;
  private static Path template;

  @BeforeAll
  static void createTemplate() throws IOException {
    Encryption encryption = new Encryption("luks", null, null, null, null, null, 10L,
        SECRET.getBytes(StandardCharsets.US_ASCII));
    template = templateDirectory.resolve("template.qcow2");
    QcowFile.create(template, CreateOptions.builder(SIZE).clusterSize(4096).encryption(encryption).build()).close();
  }

  @Override
  DiskFile create(Path directory, long size) throws IOException {
    Path copy = Files.copy(template, directory.resolve("disk.qcow2"));
    return QcowFile.open(copy, OpenOptions.readWriteDefaults().withKeySecret(SECRET.getBytes(StandardCharsets.US_ASCII)));
  }
}
