package io.qcow4j.luks;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Encryption;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.InvalidSecretException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * qcow2 images with LUKS encryption (crypt_method 2) both ways with qemu-img and qemu-io: what
 * qemu-io writes we read, what we write (new clusters, partial sectors, copy-on-write from a
 * backing file) qemu-io reads, and both checks find the image clean.
 */
class Qcow2LuksInteropTest {
  private static final String OBJECT = "secret,id=sec0,data=pass";

  @TempDir Path dir;

  @ParameterizedTest(name = "cluster_size={0}")
  @ValueSource(strings = {"65536", "4096"})
  void readsAndWritesWhatQemuMakes(String clusterSize) throws IOException {
    Path image = dir.resolve("enc.qcow2");
    create(image, "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10,cluster_size=" + clusterSize, "4M");
    io(image, "write -P 0x11 0 4096", "write -P 0x22 5000 3333", "write -P 0x33 70000 200000");
    try (DiskFile disk = DiskImages.open(image, unlocked(false))) {
      assertThat(read(disk, 0, 4096)).isEqualTo(filled(4096, 0x11));
      assertThat(read(disk, 5000, 3333)).isEqualTo(filled(3333, 0x22));
      assertThat(read(disk, 70000, 200000)).isEqualTo(filled(200000, 0x33));
      assertThat(read(disk, 3 << 20, 65536)).isEqualTo(new byte[65536]);
      // in place over theirs, partial sectors at both ends; a new cluster; zeros
      disk.writeFully(ByteBuffer.wrap(filled(1000, 0x44)), 7);
      disk.writeFully(ByteBuffer.wrap(filled(70000, 0x55)), (2 << 20) + 100);
      disk.writeZeroes(70000 + 1000, 2000);
      disk.force(true);
      assertThat(disk.check(CheckResult.Repair.NONE).exitStatus()).isZero();
    }
    io(image, "read -P 0x11 0 7", "read -P 0x44 7 1000", "read -P 0x11 1007 3089", "read -P 0x22 5000 3333",
        "read -P 0x33 70000 1000", "read -P 0 71000 2000", "read -P 0x33 73000 197000",
        "read -P 0 " + (2 << 20) + " 100", "read -P 0x55 " + ((2 << 20) + 100) + " 70000");
    QemuTools.in(dir).img("check", "--object", OBJECT, "--image-opts", spec(image));
  }

  @Test
  void copiesOnWriteFromAPlainBackingFile() throws IOException {
    Path base = dir.resolve("base.qcow2");
    QemuTools.in(dir).img("create", "-q", "-f", "qcow2", base, "1M");
    QemuTools.in(dir).io("-c", "write -P 0x61 0 1M", base);
    Path top = dir.resolve("top.qcow2");
    create(top, "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10,backing_file=base.qcow2,"
        + "backing_fmt=qcow2", "1M");
    try (DiskFile disk = DiskImages.open(top, unlocked(false))) {
      disk.writeFully(ByteBuffer.wrap(filled(100, 0x62)), 65536 + 3000);
    }
    io(top, "read -P 0x61 0 " + (65536 + 3000), "read -P 0x62 " + (65536 + 3000) + " 100",
        "read -P 0x61 " + (65536 + 3100) + " " + ((1 << 20) - 65536 - 3100));
    QemuTools.in(dir).img("check", "--object", OBJECT, "--image-opts", spec(top));
    byte[] file = Files.readAllBytes(top);
    assertThat(Collections.indexOf(file, filled(512, 0x61))).as("backing data in the clear").isEqualTo(-1);
  }

  @Test
  void qemuReadsTheEncryptedImagesWeMake() throws IOException {
    Path image = dir.resolve("ours.qcow2");
    Encryption encryption = new Encryption("luks", "aes-128", "cbc", "essiv", null, "sha1", 10L,
        "pass".getBytes(StandardCharsets.US_ASCII));
    try (DiskFile disk = io.qcow4j.qcow2.QcowFile.create(image, CreateOptions.of(4 << 20).withEncryption(encryption))) {
      disk.writeFully(ByteBuffer.wrap(filled(100000, 0x77)), 12345);
    }
    io(image, "read -P 0 0 12345", "read -P 0x77 12345 100000", "read -P 0 112345 100000");
    QemuTools.in(dir).img("check", "--object", OBJECT, "--image-opts", spec(image));
    String info = QemuTools.in(dir).img("info", "--output=json", image).stdout();
    assertThat(info).contains("\"encrypted\": true").contains("\"cipher-alg\": \"aes-128\"")
        .contains("\"ivgen-alg\": \"essiv\"").contains("\"hash-alg\": \"sha1\"");
    assertThat(Collections.indexOf(Files.readAllBytes(image), filled(512, 0x77))).isEqualTo(-1);
  }

  @Test
  void readsAndWritesTheLegacyAesMethod() throws IOException {
    Path image = dir.resolve("aes.qcow2");
    // more than 16 bytes: the key is the first 16
    String object = "secret,id=sec0,data=abcdefghijklmnopqrst";
    QemuTools.in(dir).img("create", "-q", "-f", "qcow2", "--object", object, "-o", "encryption=on,encrypt.key-secret=sec0",
        image, "2M");
    String spec = spec(image);
    QemuTools.in(dir).io("--object", object, "--image-opts", spec, "-c", "write -P 0x5a 512 65536",
        "-c", "write -P 0x33 100000 3333", "-c", "write -P 0x44 1M 4096");
    OpenOptions key = OpenOptions.readOnlyDefaults().withKeySecret("abcdefghijklmnopXYZ".getBytes(StandardCharsets.US_ASCII));
    try (DiskFile disk = DiskImages.open(image, key)) {
      assertThat(read(disk, 0, 512)).isEqualTo(new byte[512]);
      assertThat(read(disk, 512, 65536)).isEqualTo(filled(65536, 0x5a));
      assertThat(read(disk, 100000, 3333)).isEqualTo(filled(3333, 0x33));
      assertThat(read(disk, 1 << 20, 4096)).isEqualTo(filled(4096, 0x44));
      assertThat(disk.info().qcow2().encryption().format()).isEqualTo("aes");
    }
    // qemu-img and qemu-io write it too (only QEMU's system emulators refuse the method)
    try (DiskFile disk = DiskImages.open(image, key.withReadOnly(false))) {
      disk.writeFully(ByteBuffer.wrap(filled(1000, 0x66)), 700);
      disk.writeFully(ByteBuffer.wrap(filled(70000, 0x77)), (1 << 20) + 2048);
      disk.force(true);
    }
    QemuTools.in(dir).io("--object", object, "--image-opts", spec, "-c", "read -P 0 0 512", "-c", "read -P 0x5a 512 188",
        "-c", "read -P 0x66 700 1000", "-c", "read -P 0x5a 1700 64348", "-c", "read -P 0x33 100000 3333",
        "-c", "read -P 0x44 1M 2048", "-c", "read -P 0x77 " + ((1 << 20) + 2048) + " 70000");
    QemuTools.in(dir).img("check", "--object", object, "--image-opts", spec);
  }

  @Test
  void createsTheLegacyAesMethodAsQemuImgDoes() throws IOException {
    Path ours = dir.resolve("ours.qcow2");
    Path theirs = dir.resolve("theirs.qcow2");
    QemuTools.in(dir).img("create", "-q", "-f", "qcow2", "--object", OBJECT, "-o", "encrypt.format=aes,encrypt.key-secret=sec0",
        theirs, "3M");
    Encryption aes = new Encryption("aes", null, null, null, null, null, null, "pass".getBytes(StandardCharsets.US_ASCII));
    try (DiskFile disk = DiskImages.create(ours, ImageFormat.QCOW2, CreateOptions.builder(3 << 20).encryption(aes)
        .build())) {
      disk.writeFully(ByteBuffer.wrap(filled(5000, 0x21)), 300);
      disk.force(true);
    }
    QemuTools.in(dir).io("--object", OBJECT, "--image-opts", spec(theirs), "-c", "write -P 0x21 300 5000");
    // the same file: the method is all that is stored, and the data is AES-128-CBC keyed by the
    // passphrase with IVs numbered by guest sector, whatever the host offset
    assertThat(Files.readAllBytes(ours)).isEqualTo(Files.readAllBytes(theirs));
    QemuTools.in(dir).io("--object", OBJECT, "--image-opts", spec(ours), "-c", "read -P 0 0 300",
        "-c", "read -P 0x21 300 5000", "-c", "read -P 0 5300 60236");
    QemuTools.in(dir).img("check", "--object", OBJECT, "--image-opts", spec(ours));
  }

  @Test
  void refusesWithoutTheSecretAndDescribesWithout() throws IOException {
    Path image = dir.resolve("enc.qcow2");
    create(image, "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10", "1M");
    assertThatThrownBy(() -> DiskImages.open(image, OpenOptions.readOnlyDefaults()))
        .isInstanceOf(InvalidSecretException.class)
        .hasMessage(image + ": Parameter 'encrypt.key-secret' is required for cipher");
    OpenOptions wrong = OpenOptions.readOnlyDefaults().withKeySecret("nope".getBytes(StandardCharsets.US_ASCII));
    assertThatThrownBy(() -> DiskImages.open(image, wrong)).isInstanceOf(InvalidSecretException.class)
        .hasMessage(image + ": Invalid password, cannot unlock any keyslot");
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults().withDescribeOnly(true))) {
      assertThat(disk.info().encrypted()).isTrue();
      assertThat(disk.info().qcow2().encryption().format()).isEqualTo("luks");
      assertThat(disk.info().qcow2().encryption().luks().cipherAlg()).isEqualTo("aes-256");
    }
    try (DiskFile disk = DiskImages.open(image, unlocked(false))) {
      assertThatThrownBy(() -> ((io.qcow4j.qcow2.QcowFile) disk).writeCompressed(0, new byte[10]))
          .hasMessageEndingWith("Compression and encryption not supported at the same time");
    }
  }

  private void create(Path image, String options, String size) {
    for (int attempt = 1; ; attempt++) {
      QemuTools.Result result = QemuTools.in(dir).run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "create", "-q", "-f",
          "qcow2", "--object", OBJECT, "-o", options, image, size);
      if (result.exitCode() == 0) {
        return;
      }
      // a busy machine makes QEMU's PBKDF2 timing fail now and then
      if (attempt == 5 || !result.stderr().contains("Unable to get accurate CPU usage")) {
        throw new AssertionError(result.describe());
      }
    }
  }

  private void io(Path image, String... commands) {
    List<Object> args = new ArrayList<>(List.of("--object", OBJECT, "--image-opts", spec(image)));
    for (String command : commands) {
      args.add("-c");
      args.add(command);
    }
    QemuTools.Result result = QemuTools.in(dir).io(args.toArray());
    assertThat(result.stdout()).doesNotContain("Pattern verification failed");
  }

  private static String spec(Path image) {
    return "driver=qcow2,file.filename=" + image + ",encrypt.key-secret=sec0";
  }

  private static OpenOptions unlocked(boolean readOnly) {
    return OpenOptions.readOnlyDefaults().withReadOnly(readOnly).withFormat(ImageFormat.QCOW2)
        .withKeySecret("pass".getBytes(StandardCharsets.US_ASCII));
  }

  private static byte[] read(DiskFile disk, long offset, int length) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(length);
    disk.readFully(buffer, offset);
    return buffer.array();
  }

  private static byte[] filled(int length, int value) {
    byte[] bytes = new byte[length];
    Arrays.fill(bytes, (byte) value);
    return bytes;
  }

  /** Searching bytes. */
  private static final class Collections {
    static int indexOf(byte[] haystack, byte[] needle) {
      outer:
      for (int i = 0; i + needle.length <= haystack.length; i++) {
        for (int j = 0; j < needle.length; j++) {
          if (haystack[i + j] != needle[j]) {
            continue outer;
          }
        }
        return i;
      }
      return -1;
    }
  }
}
