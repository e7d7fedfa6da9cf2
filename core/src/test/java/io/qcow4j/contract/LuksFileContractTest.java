package io.qcow4j.contract;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Encryption;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.luks.LuksFile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

/**
 * The contract over a raw LUKS image (qemu-img's -f luks): its payload after the header,
 * sector-encrypted; unwritten payload (new, or grown) reads as noise and discard keeps the bytes,
 * as QEMU's crypto driver. The image is created once (key slot set-up times PBKDF2 as QEMU does,
 * about a second) and copied for each test.
 */
class LuksFileContractTest extends DiskFileContract {
  private static final String SECRET = "contract";
  @TempDir static Path templateDirectory;
  private static Path template;

  @BeforeAll
  static void createTemplate() throws IOException {
    Encryption encryption = new Encryption("luks", null, null, null, null, null, 10L,
        SECRET.getBytes(StandardCharsets.US_ASCII));
    template = templateDirectory.resolve("template.luks");
    try (DiskFile disk = LuksFile.create(template, CreateOptions.builder(SIZE).encryption(encryption).build())) {
      // a new payload is a hole that decrypts to noise: zeros written make the contract's start
      disk.writeZeroes(0, SIZE);
    }
  }

  @Override
  DiskFile create(Path directory, long size) throws IOException {
    Path copy = Files.copy(template, directory.resolve("disk.luks"));
    return LuksFile.open(copy, OpenOptions.readWriteDefaults(), SECRET.getBytes(StandardCharsets.US_ASCII));
  }

  @Override
  boolean growsWithZeros() {
    return false;
  }
}
