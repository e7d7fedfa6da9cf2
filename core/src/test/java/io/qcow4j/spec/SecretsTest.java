package io.qcow4j.spec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import javax.crypto.Cipher;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --object secret definitions: data, file, base64, encrypted secrets, and QEMU's refusals. */
class SecretsTest {
  @TempDir Path dir;

  @Test
  void dataAndFileAreRead() throws Exception {
    Path file = dir.resolve("secret.txt");
    Files.writeString(file, "from a file");
    Secrets secrets = Secrets.none()
        .define("secret,id=s0,data=a,,b")
        .define("secret,id=s1,file=" + file)
        .define("{\"qom-type\":\"secret\",\"id\":\"s2\",\"data\":\"json\"}")
        .define("qom-type=secret,id=s3,data=YWJj,format=base64");
    assertThat(new String(secrets.bytes("s0"), StandardCharsets.UTF_8)).isEqualTo("a,b");
    assertThat(new String(secrets.bytes("s1"), StandardCharsets.UTF_8)).isEqualTo("from a file");
    assertThat(new String(secrets.bytes("s2"), StandardCharsets.UTF_8)).isEqualTo("json");
    assertThat(new String(secrets.bytes("s3"), StandardCharsets.UTF_8)).isEqualTo("abc");
    assertThat(secrets.contains("s4")).isFalse();
    assertThatThrownBy(() -> secrets.bytes("s4")).hasMessage("No secret with id 's4'");
  }

  @Test
  void anEncryptedSecretIsDecryptedWithItsKey() throws Exception {
    byte[] key = new byte[32];
    for (int i = 0; i < key.length; i++) {
      key[i] = (byte) (i * 7 + 1);
    }
    byte[] iv = new byte[16];
    for (int i = 0; i < iv.length; i++) {
      iv[i] = (byte) (100 - i);
    }
    Cipher aes = Cipher.getInstance("AES/CBC/PKCS5Padding");
    aes.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new IvParameterSpec(iv));
    byte[] ciphertext = aes.doFinal("the passphrase".getBytes(StandardCharsets.UTF_8));
    Base64.Encoder base64 = Base64.getEncoder();
    Secrets secrets = Secrets.none()
        .define("secret,id=master,format=base64,data=" + base64.encodeToString(key))
        .define("secret,id=sec0,keyid=master,format=base64,iv=" + base64.encodeToString(iv) + ",data="
            + base64.encodeToString(ciphertext));
    assertThat(new String(secrets.bytes("sec0"), StandardCharsets.UTF_8)).isEqualTo("the passphrase");
  }

  @Test
  void refusalsCarryQemusMessages() throws Exception {
    Secrets one = Secrets.none().define("secret,id=s0,data=abc");
    assertThatThrownBy(() -> one.define("secret,id=s1")).hasMessage("Either 'file' or 'data' must be provided");
    assertThatThrownBy(() -> one.define("secret,id=s1,data=a,file=b")).hasMessage("'file' and 'data' are mutually exclusive");
    assertThatThrownBy(() -> one.define("secret,data=a")).hasMessage("Parameter 'id' is missing");
    assertThatThrownBy(() -> one.define("id=s1,data=a")).hasMessage("Parameter 'qom-type' is missing");
    assertThatThrownBy(() -> one.define("secret,id=s0,data=a"))
        .hasMessage("attempt to add duplicate property 's0' to object (type 'container')");
    assertThatThrownBy(() -> one.define("secret,id=0s,data=a")).hasMessageStartingWith("Parameter 'id' expects an identifier");
    assertThatThrownBy(() -> one.define("secret,id=s1,data=a,bogus=1")).hasMessage("Parameter 'bogus' is unexpected");
    assertThatThrownBy(() -> one.define("secret,id=s1,data=a,format=bogus"))
        .hasMessage("Parameter 'format' does not accept value 'bogus'");
    assertThatThrownBy(() -> one.define("secret,id=s1,data=!!!,format=base64"))
        .hasMessage("Base64 data contains invalid characters");
    assertThatThrownBy(() -> one.define("secret,id=s1,data=abc,keyid=s9")).hasMessage("No secret with id 's9'");
    assertThatThrownBy(() -> one.define("secret,id=s1,data=abc,keyid=s0")).hasMessage("Key should be 32 bytes in length");
    assertThatThrownBy(() -> one.define("secret,id=s1,file=" + dir.resolve("none")))
        .hasMessage("Unable to read " + dir.resolve("none") + ": Failed to open file “" + dir.resolve("none")
            + "”: No such file or directory");
    assertThatThrownBy(() -> one.define("memory-backend-ram,id=m0,size=1M")).hasMessage("invalid object type: memory-backend-ram");
    assertThatThrownBy(() -> one.define("bogus-type,id=m0")).hasMessage("Parameter 'qom-type' does not accept value 'bogus-type'");
    assertThatThrownBy(() -> one.define("tls-creds-x509,id=t0,dir=/tmp"))
        .hasMessage("object type 'tls-creds-x509' is not supported (only 'secret' is)");
    assertThatThrownBy(() -> one.define("json:{\"qom-type\":\"secret\",\"id\":\"s0\",\"data\":\"abc\"}"))
        .hasMessage("Invalid parameter '\"id\":\"s0\"'");
  }

  @Test
  void helpIsAnswered() throws Exception {
    assertThat(Secrets.help("help")).startsWith("List of user creatable objects:\n");
    assertThat(Secrets.help("secret,help")).startsWith("secret options:\n");
    assertThat(Secrets.help("secret,id=s0,data=x")).isNull();
  }
}
