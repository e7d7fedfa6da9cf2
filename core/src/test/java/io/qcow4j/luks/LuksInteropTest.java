package io.qcow4j.luks;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Encryption;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
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
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Raw LUKS images both ways with qemu-img and qemu-io: images qemu-img makes with each cipher,
 * mode, IV generator and hash, written by qemu-io, read byte for byte by us and written back;
 * images we make, read by qemu-io with the same secret; the file never holds the plaintext.
 */
class LuksInteropTest {
  private static final String SECRET = "s3cr\u00e9t";
  private static final String OBJECT = "secret,id=sec0,data=" + SECRET;
  /** qemu-io writes: offset, length, pattern; crossing sectors and the 1 MiB bounce buffer. */
  private static final long[][] WRITES = {{0, 4096, 0x11}, {5000, 3333, 0x22}, {65536 + 7, 1 << 20, 0x33},
      {(3 << 20) - 512, 512, 0x44}};

  @TempDir Path dir;

  @ParameterizedTest(name = "{0}")
  @CsvSource({
      "default,",
      "aes-128-xts-plain64-sha1, 'cipher-alg=aes-128,hash-alg=sha1'",
      "aes-192-xts-plain-sha512, 'cipher-alg=aes-192,ivgen-alg=plain,hash-alg=sha512'",
      "aes-256-cbc-essiv-sha256, 'cipher-mode=cbc,ivgen-alg=essiv'",
      "aes-128-cbc-essiv-sha256-sha224, 'cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=essiv,hash-alg=sha224'",
      "aes-128-cbc-plain64-md5, 'cipher-alg=aes-128,cipher-mode=cbc,hash-alg=md5'",
      "aes-256-cbc-plain-sha384, 'cipher-mode=cbc,ivgen-alg=plain,hash-alg=sha384'",
      "aes-256-ecb-plain64, cipher-mode=ecb",
      "aes-128-ctr-plain64, 'cipher-alg=aes-128,cipher-mode=ctr'",
      "aes-256-xts-essiv-sha256, 'ivgen-alg=essiv,ivgen-hash-alg=sha256'",
      "aes-256-xts-plain64-ignored-hash, ivgen-hash-alg=sha1"})
  void readsAndWritesWhatQemuMakes(String name, String options) throws IOException {
    Path image = dir.resolve(name + ".luks");
    String createOptions = "key-secret=sec0,iter-time=10" + (options == null ? "" : "," + options);
    qemuImgCreate(dir, "-o", createOptions, image, "3M");
    List<Object> io = new ArrayList<>(List.of("--object", OBJECT, "--image-opts", imageOpts(image)));
    for (long[] write : WRITES) {
      io.addAll(List.of("-c", "write -P " + write[2] + " " + write[0] + " " + write[1]));
    }
    QemuTools.in(dir).io(io.toArray());

    try (DiskFile disk = DiskImages.open(image, unlocked().withReadOnly(false))) {
      assertThat(disk.format()).isEqualTo(ImageFormat.LUKS);
      assertThat(disk.size()).isEqualTo(3 << 20);
      for (long[] write : WRITES) {
        assertThat(read(disk, write[0], (int) write[1])).as("%s at %d", name, write[0]).isEqualTo(filled(write));
      }
      // ours over theirs: a partial sector each side, then qemu-io checks every byte
      disk.writeFully(ByteBuffer.wrap(filled(new long[] {0, 3000, 0x55})), 1000);
      disk.writeZeroes(2 << 20, 4096);
      disk.force(true);
    }
    QemuTools.in(dir).io("--object", OBJECT, "--image-opts", imageOpts(image),
        "-c", "read -P 0x11 0 1000", "-c", "read -P 0x55 1000 3000", "-c", "read -P 0x11 4000 96",
        "-c", "read -P 0x22 5000 3333", "-c", "read -P 0 " + (2 << 20) + " 4096",
        "-c", "read -P 0x44 " + ((3 << 20) - 512) + " 512");
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({
      "default, , , ''",
      "aes-128-cbc-essiv, aes-128, cbc, essiv",
      "aes-256-xts-plain, aes-256, xts, plain"})
  void qemuReadsWhatWeMake(String name, String cipher, String mode, String ivgen) throws IOException {
    Path image = dir.resolve(name + ".luks");
    byte[] secret = SECRET.getBytes(StandardCharsets.UTF_8);
    Encryption encryption = new Encryption("luks", cipher, mode, ivgen == null || ivgen.isEmpty() ? null : ivgen, null,
        null, 10L, secret);
    byte[] plain = filled(new long[] {0, 65536, 0x6b});
    try (DiskFile disk = DiskImages.create(image, ImageFormat.LUKS, CreateOptions.of(1 << 20).withEncryption(encryption))) {
      disk.writeFully(ByteBuffer.wrap(plain), 4096);
      disk.writeFully(ByteBuffer.wrap(plain, 0, 100), 300);
    }
    QemuTools.in(dir).io("--object", OBJECT, "--image-opts", imageOpts(image),
        "-c", "read -P 0x6b 300 100", "-c", "read -P 0x6b 4096 65536");
    String info = QemuTools.in(dir).img("info", "--output=json", image).stdout();
    assertThat(info).contains("\"encrypted\": true").contains("\"cipher-alg\": \"" + (cipher == null ? "aes-256" : cipher));
    byte[] file = Files.readAllBytes(image);
    assertThat(indexOf(file, Arrays.copyOf(plain, 512))).as("plaintext on disk").isEqualTo(-1);
  }

  @Test
  void aWrongSecretOpensNoSlotAndNoSecretIsRequiredForInfo() throws IOException {
    Path image = dir.resolve("x.luks");
    qemuImgCreate(dir, "-o", "key-secret=sec0,iter-time=10", image, "1M");
    OpenOptions wrong = OpenOptions.readOnlyDefaults().withFormat(ImageFormat.LUKS).withKeySecret(new byte[] {'x'});
    assertThatThrownBy(() -> DiskImages.open(image, wrong)).isInstanceOf(InvalidSecretException.class)
        .hasMessage(image + ": Invalid password, cannot unlock any keyslot").hasMessageNotContaining("x'");
    assertThatThrownBy(() -> DiskImages.open(image, OpenOptions.readOnlyDefaults()))
        .isInstanceOf(InvalidSecretException.class)
        .hasMessage(image + ": Parameter 'key-secret' is required for cipher");
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults().withDescribeOnly(true))) {
      ImageInfo.LuksInfo luks = disk.info().luks();
      assertThat(luks.cipherAlg()).isEqualTo("aes-256");
      assertThat(luks.slots()).hasSize(8);
      assertThat(luks.slots().getFirst().active()).isTrue();
      assertThat(luks.payloadOffset()).isEqualTo(2068480);
    }
  }

  /**
   * qemu-img create -f luks, again when QEMU's PBKDF2 timing finds no CPU time used ("Unable to get
   * accurate CPU usage", which a busy machine makes it say now and then).
   */
  static void qemuImgCreate(Path dir, Object... args) {
    List<Object> command = new ArrayList<>(List.of("create", "-q", "-f", "luks", "--object", OBJECT));
    command.addAll(List.of(args));
    QemuTools.in(dir).img(command.toArray());
  }

  private static OpenOptions unlocked() {
    return OpenOptions.readOnlyDefaults().withFormat(ImageFormat.LUKS)
        .withKeySecret(SECRET.getBytes(StandardCharsets.UTF_8));
  }

  private static String imageOpts(Path image) {
    return "driver=luks,file.filename=" + image + ",key-secret=sec0";
  }

  private static byte[] read(DiskFile disk, long offset, int length) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(length);
    disk.readFully(buffer, offset);
    return buffer.array();
  }

  private static byte[] filled(long[] write) {
    byte[] bytes = new byte[(int) write[1]];
    Arrays.fill(bytes, (byte) write[2]);
    return bytes;
  }

  private static int indexOf(byte[] haystack, byte[] needle) {
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
