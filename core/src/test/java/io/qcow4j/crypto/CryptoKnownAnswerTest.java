package io.qcow4j.crypto;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import javax.crypto.Cipher;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.PBEKeySpec;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Known answers for the crypto codecs: IEEE 1619 XTS, RFC 6070 PBKDF2, the AF splitter, CBC and the IV generators. */
class CryptoKnownAnswerTest {
  private static final HexFormat HEX = HexFormat.of();

  @Test
  void xtsMatchesIeee1619Vectors() throws Exception {
    int tested = 0;
    try (BufferedReader in = new BufferedReader(new InputStreamReader(
        CryptoKnownAnswerTest.class.getResourceAsStream("ieee1619-xts.txt"), StandardCharsets.US_ASCII))) {
      String line;
      while ((line = in.readLine()) != null) {
        if (line.startsWith("#")) {
          continue;
        }
        String[] f = line.split(" ");
        int length = Integer.parseInt(f[5]);
        if (length % 16 != 0) {
          continue; // ciphertext stealing: never used on whole sectors
        }
        byte[] key = HEX.parseHex(f[2] + f[3]);
        CipherAlgorithm aes = CipherAlgorithm.fromLuks("aes", key.length / 2);
        CipherSpec spec = CipherSpec.of(aes, CipherMode.XTS, IvGenAlgorithm.PLAIN64, null);
        SectorCipher cipher = new SectorCipher(spec, key);
        // a vector's data unit is a prefix of a 512-byte sector: XTS tweaks go block by block
        byte[] sector = new byte[512];
        System.arraycopy(HEX.parseHex(f[6]), 0, sector, 0, length);
        long unit = Long.parseLong(f[4]);
        cipher.encrypt(sector, 0, 512, unit);
        assertThat(HEX.formatHex(Arrays.copyOf(sector, length))).as(f[0]).isEqualTo(f[7]);
        cipher.decrypt(sector, 0, 512, unit);
        assertThat(HEX.formatHex(Arrays.copyOf(sector, length))).as(f[0]).isEqualTo(f[6]);
        tested++;
      }
    }
    assertThat(tested).isGreaterThanOrEqualTo(4);
  }

  @Test
  void pbkdf2Sha1MatchesRfc6070() {
    assertPbkdf2(HashAlgorithm.SHA1, "password", "salt", 1, "0c60c80f961f0e71f3a9b524af6012062fe037a6");
    assertPbkdf2(HashAlgorithm.SHA1, "password", "salt", 2, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957");
    assertPbkdf2(HashAlgorithm.SHA1, "password", "salt", 4096, "4b007901b765489abead49d926f721d065a429c1");
    assertPbkdf2(HashAlgorithm.SHA1, "passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096,
        "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038");
    assertPbkdf2(HashAlgorithm.SHA1, "pass\0word", "sa\0lt", 4096, "56fa6aa75548099dcc37d7f03425e0c3");
  }

  @Test
  void pbkdf2Sha256AndSha512KnownAnswers() {
    assertPbkdf2(HashAlgorithm.SHA256, "password", "salt", 1,
        "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
    assertPbkdf2(HashAlgorithm.SHA256, "password", "salt", 4096,
        "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
    // keys longer than the hash block (hashed first), from QEMU's non-RFC cases
    assertPbkdf2(HashAlgorithm.SHA256, "X".repeat(65), "pass phrase exceeds block size", 1200,
        "22344bc4b6e32675a8090f3ea80be01d5f95126a2cddc3facc4a5e6dca04ec58");
    assertPbkdf2(HashAlgorithm.SHA512, "X".repeat(129), "pass phrase exceeds block size", 1200,
        "0fb2ed2c0e6efb7d7d8edd5801b45972999216305ea4368d761480f3e37a22b9");
  }

  @ParameterizedTest
  @EnumSource(value = HashAlgorithm.class, names = {"SHA1", "SHA224", "SHA256", "SHA384", "SHA512"})
  void theIntrinsicHmacIsReachedAndAgreesWithThePortableOne(HashAlgorithm hash) {
    byte[] key = "key longer than nothing".getBytes(StandardCharsets.US_ASCII);
    IntrinsicHmac fast = IntrinsicHmac.create(hash, key);
    assertThat(fast).as("the tests run with java.base/sun.security.provider opened, as bin/qcow4j runs").isNotNull();
    Hmac portable = new Hmac(hash, key);
    byte[] a = new byte[hash.digestLength()];
    byte[] b = new byte[hash.digestLength()];
    for (int i = 0; i < 100; i++) {
      fast.macInPlace(a);
      portable.macInPlace(b);
      assertThat(a).as("%s iteration %d", hash, i).isEqualTo(b);
    }
  }

  private static void assertPbkdf2(HashAlgorithm hash, String password, String salt, int iterations, String expected) {
    byte[] out = new byte[expected.length() / 2];
    Pbkdf2.derive(hash, password.getBytes(StandardCharsets.ISO_8859_1), salt.getBytes(StandardCharsets.ISO_8859_1),
        iterations, out);
    assertThat(HEX.formatHex(out)).as("%s %s %d", hash, password, iterations).isEqualTo(expected);
  }

  @ParameterizedTest
  @EnumSource(value = HashAlgorithm.class, names = {"SHA1", "SHA224", "SHA256", "SHA384", "SHA512"})
  void pbkdf2MatchesTheJdkIncludingParallelBlocks(HashAlgorithm hash) throws Exception {
    Random random = new Random(hash.ordinal());
    String jdkName = "PBKDF2WithHmac" + switch (hash) {
      case SHA1 -> "SHA1";
      default -> hash.name();
    };
    SecretKeyFactory factory = SecretKeyFactory.getInstance(jdkName);
    for (int iterations : new int[] {1, 3, 1000, 25_000}) {
      int length = 1 + random.nextInt(3 * hash.digestLength());
      char[] password = new char[random.nextInt(200)];
      for (int i = 0; i < password.length; i++) {
        password[i] = (char) ('!' + random.nextInt(90));
      }
      byte[] salt = new byte[32];
      random.nextBytes(salt);
      byte[] expected = factory.generateSecret(new PBEKeySpec(password, salt, iterations, length * 8)).getEncoded();
      byte[] out = new byte[length];
      Pbkdf2.derive(hash, new String(password).getBytes(StandardCharsets.UTF_8), salt, iterations, out);
      assertThat(out).as("%s, %d iterations, %d bytes", hash, iterations, length).isEqualTo(expected);
    }
  }

  @Test
  void afMergeMatchesKnownSplit() {
    byte[] key = HEX.parseHex("000102030405060708090a0b0c0d0e0fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
    byte[] split = HEX.parseHex("fdd273b17d99933470defa07c5ac58d230672f1a3543607d7702db623ccb2c33"
        + "4808b6f17ca320a0ad2d4cf3cd186f53f9e8e759273ca9546187b3aff6f77e64"
        + "86aa897f1f9fdb86f4a216ffa34f8ca159c4233428c4777183d4cd8e891bc7c5"
        + "ae4da9cdc972857013685283fcb81172ba3dc64a28fae2867b27ab58e1a4caf6"
        + "9ebcfe0c9279b3ec1c5f793b0d1eaa1a770f70194bc880ee277c6e4a91965cf4");
    assertThat(AntiForensic.merge(HashAlgorithm.SHA256, split, 32, 5)).isEqualTo(key);
  }

  @ParameterizedTest
  @EnumSource(value = HashAlgorithm.class, names = "RIPEMD160", mode = EnumSource.Mode.EXCLUDE)
  void afSplitRoundTrips(HashAlgorithm hash) {
    SecureRandom random = new SecureRandom();
    for (int keyLength : new int[] {16, 20, 32, 48, 64}) {
      byte[] key = new byte[keyLength];
      random.nextBytes(key);
      byte[] split = AntiForensic.split(hash, key, 4000, random);
      assertThat(split).hasSize(keyLength * 4000);
      assertThat(AntiForensic.merge(hash, split, keyLength, 4000)).isEqualTo(key);
      split[random.nextInt(split.length)] ^= 1;
      assertThat(AntiForensic.merge(hash, split, keyLength, 4000)).isNotEqualTo(key);
    }
  }

  @Test
  void cbcAndIvGeneratorsMatchTheJdkPerSector() throws Exception {
    Random random = new Random(7);
    for (CipherAlgorithm aes : List.of(CipherAlgorithm.AES_128, CipherAlgorithm.AES_192, CipherAlgorithm.AES_256)) {
      for (IvGenAlgorithm ivgen : IvGenAlgorithm.values()) {
        HashAlgorithm ivHash = ivgen == IvGenAlgorithm.ESSIV ? HashAlgorithm.SHA256 : null;
        CipherSpec spec = CipherSpec.of(aes, CipherMode.CBC, ivgen, ivHash);
        byte[] key = new byte[spec.keyLength()];
        random.nextBytes(key);
        byte[] data = new byte[4 * 512];
        random.nextBytes(data);
        byte[] plain = data.clone();
        long first = ivgen == IvGenAlgorithm.PLAIN ? 0xfffffffeL : 0x1_0000_0000L;
        new SectorCipher(spec, key).encrypt(data, 0, data.length, first);
        for (int s = 0; s < 4; s++) {
          byte[] iv = expectedIv(spec, key, first + s);
          Cipher jdk = Cipher.getInstance("AES/CBC/NoPadding");
          jdk.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new IvParameterSpec(iv));
          assertThat(Arrays.copyOfRange(data, s * 512, s * 512 + 512)).as("%s %s sector %d", aes, ivgen, s)
              .isEqualTo(jdk.doFinal(plain, s * 512, 512));
        }
        new SectorCipher(spec, key).decrypt(data, 0, data.length, first);
        assertThat(data).isEqualTo(plain);
      }
    }
  }

  private static byte[] expectedIv(CipherSpec spec, byte[] key, long sector) throws Exception {
    long value = spec.ivgen() == IvGenAlgorithm.PLAIN ? sector & 0xffffffffL : sector;
    byte[] iv = new byte[16];
    for (int i = 0; i < 8; i++) {
      iv[i] = (byte) (value >>> (8 * i));
    }
    if (spec.ivgen() == IvGenAlgorithm.ESSIV) {
      byte[] salt = MessageDigest.getInstance("SHA-256").digest(key);
      Cipher essiv = Cipher.getInstance("AES/ECB/NoPadding");
      essiv.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(salt, "AES"));
      iv = essiv.doFinal(iv);
    }
    return iv;
  }

  @Test
  void ecbAndCtrRoundTrip() throws Exception {
    Random random = new Random(3);
    for (CipherMode mode : List.of(CipherMode.ECB, CipherMode.CTR)) {
      CipherSpec spec = CipherSpec.of(CipherAlgorithm.AES_256, mode, IvGenAlgorithm.PLAIN64, null);
      byte[] key = new byte[32];
      random.nextBytes(key);
      byte[] data = new byte[1024];
      random.nextBytes(data);
      byte[] plain = data.clone();
      SectorCipher cipher = new SectorCipher(spec, key);
      cipher.encrypt(data, 0, data.length, 9);
      assertThat(data).isNotEqualTo(plain);
      cipher.decrypt(data, 0, data.length, 9);
      assertThat(data).isEqualTo(plain);
    }
  }

  @Test
  void ctrMatchesTheJdkPerSector() throws Exception {
    Random random = new Random(5);
    CipherSpec spec = CipherSpec.of(CipherAlgorithm.AES_128, CipherMode.CTR, IvGenAlgorithm.PLAIN64, null);
    byte[] key = new byte[16];
    random.nextBytes(key);
    byte[] data = new byte[3 * 512];
    random.nextBytes(data);
    byte[] plain = data.clone();
    long first = 0xffff_ffff_ffff_fffeL; // IVs with every bit of their low 64 set, and their wrap
    new SectorCipher(spec, key).encrypt(data, 0, data.length, first);
    for (int s = 0; s < 3; s++) {
      Cipher jdk = Cipher.getInstance("AES/CTR/NoPadding");
      jdk.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"), new IvParameterSpec(expectedIv(spec, key, first + s)));
      assertThat(Arrays.copyOfRange(data, s * 512, s * 512 + 512)).as("sector %d", s)
          .isEqualTo(jdk.doFinal(plain, s * 512, 512));
    }
  }

  /** A long run of sectors at an odd place in its array gives what the sectors give one by one. */
  @Test
  void longRunsAgreeWithSectorsOneByOne() throws Exception {
    Random random = new Random(11);
    for (CipherMode mode : CipherMode.values()) {
      for (IvGenAlgorithm ivgen : IvGenAlgorithm.values()) {
        HashAlgorithm ivHash = ivgen == IvGenAlgorithm.ESSIV ? HashAlgorithm.SHA256 : null;
        CipherSpec spec = CipherSpec.of(CipherAlgorithm.AES_256, mode, ivgen, ivHash);
        byte[] key = new byte[spec.keyLength()];
        random.nextBytes(key);
        int sectors = 77; // more than two of the cipher's runs of 16 KiB
        int offset = 24;
        byte[] whole = new byte[offset + sectors * 512 + 8];
        random.nextBytes(whole);
        byte[] plain = whole.clone();
        byte[] bySector = whole.clone();
        long first = 0xffff_fff0L;
        SectorCipher cipher = new SectorCipher(spec, key);
        cipher.encrypt(whole, offset, sectors * 512, first);
        for (int s = 0; s < sectors; s++) {
          cipher.encrypt(bySector, offset + s * 512, 512, first + s);
        }
        assertThat(whole).as("%s %s encrypt", mode, ivgen).isEqualTo(bySector);
        assertThat(Arrays.copyOfRange(whole, offset, offset + 512)).isNotEqualTo(Arrays.copyOfRange(plain, offset, offset + 512));
        cipher.decrypt(whole, offset, sectors * 512, first);
        assertThat(whole).as("%s %s decrypt", mode, ivgen).isEqualTo(plain);
      }
    }
  }

  @Test
  void essivRefusesAHashWithoutAnAesKeySize() {
    org.assertj.core.api.Assertions.assertThatThrownBy(
        () -> CipherSpec.of(CipherAlgorithm.AES_256, CipherMode.CBC, IvGenAlgorithm.ESSIV, HashAlgorithm.SHA1))
        .hasMessage("No AES cipher with key size 20 available");
  }
}
