package io.qcow4j.crypto;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.UnsupportedFeatureException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The LUKS1 header codec: round trip, and every check QEMU makes with its message, plus our bounds. */
class LuksHeaderTest {
  private static byte[] valid() throws CryptoException {
    CipherSpec spec = CipherSpec.of(CipherAlgorithm.AES_256, CipherMode.XTS, IvGenAlgorithm.PLAIN64, null);
    List<LuksKeySlot> slots = new ArrayList<>();
    long split = LuksHeader.splitKeySectors(64, 4000);
    for (int i = 0; i < 8; i++) {
      slots.add(new LuksKeySlot(i == 0 ? LuksKeySlot.ENABLED : LuksKeySlot.DISABLED, i == 0 ? 5000 : 0, new byte[32],
          8 + i * split, 4000));
    }
    return new LuksHeader(spec, HashAlgorithm.SHA256, 8 + 8 * split, new byte[20], new byte[32], 1000,
        "383c21d4-64c7-41ad-b937-6b030fe7b0c2", slots).encode();
  }

  @Test
  void roundTrips() throws Exception {
    byte[] data = valid();
    LuksHeader header = LuksHeader.decode(data, "x");
    assertThat(header.cipherName()).isEqualTo("aes");
    assertThat(header.cipherModeSpec()).isEqualTo("xts-plain64");
    assertThat(header.keyBytes()).isEqualTo(64);
    assertThat(header.payloadOffset()).isEqualTo(2068480);
    assertThat(header.slots().get(1).keyOffset()).isEqualTo(262144);
    assertThat(header.cipherSpec().cipher()).isEqualTo(CipherAlgorithm.AES_256);
    assertThat(header.encode()).isEqualTo(data);
    assertThat(LuksHeader.probe(data)).isTrue();
  }

  @Test
  void refusesWhatQemuRefusesWithItsMessages() throws Exception {
    assertRefused(d -> d[0] = 'X', CorruptImageException.class, "x: Volume is not in LUKS format");
    assertRefused(d -> d[7] = 2, UnsupportedFeatureException.class, "x: LUKS version 2 is not supported");
    assertRefused(d -> fill(d, 8, 32), CorruptImageException.class, "x: LUKS header cipher name is not NUL terminated");
    assertRefused(d -> fill(d, 40, 32), CorruptImageException.class, "x: LUKS header cipher mode is not NUL terminated");
    assertRefused(d -> fill(d, 72, 32), CorruptImageException.class, "x: LUKS header hash spec is not NUL terminated");
    assertRefused(d -> putInt(d, 104, 7), CorruptImageException.class, "x: LUKS payload is overlapping with the header");
    assertRefused(d -> putInt(d, 164, 0), CorruptImageException.class, "x: LUKS key iteration count is zero");
    assertRefused(d -> putInt(d, 208 + 48 + 44, 4001), CorruptImageException.class,
        "x: Keyslot 1 is corrupted (stripes 4001 != 4000)");
    assertRefused(d -> putInt(d, 208, 1), CorruptImageException.class,
        "x: Keyslot 0 state (active/disable) is corrupted");
    assertRefused(d -> putInt(d, 208 + 4, 0), CorruptImageException.class, "x: Keyslot 0 iteration count is zero");
    assertRefused(d -> putInt(d, 208 + 40, 7), CorruptImageException.class,
        "x: Keyslot 0 is overlapping with the LUKS header");
    assertRefused(d -> putInt(d, 208 + 7 * 48 + 40, 4040), CorruptImageException.class,
        "x: Keyslot 7 is overlapping with the encrypted payload");
    assertRefused(d -> putInt(d, 208 + 48 + 40, 8), CorruptImageException.class,
        "x: Keyslots 0 and 1 are overlapping in the header");
    assertRefused(d -> putString(d, 40, "xts"), CorruptImageException.class,
        "x: Unexpected cipher mode string format 'xts'");
    assertRefused(d -> putString(d, 40, "gcm-plain64"), UnsupportedFeatureException.class,
        "x: Cipher mode 'gcm' not supported");
    assertRefused(d -> putString(d, 40, "xts-plain64:whirlpool"), UnsupportedFeatureException.class,
        "x: Hash algorithm 'whirlpool' not supported");
    assertRefused(d -> putString(d, 8, "blowfish"), UnsupportedFeatureException.class,
        "x: Algorithm 'blowfish' with key size 32 bytes not supported");
    assertRefused(d -> putString(d, 72, "sha3"), UnsupportedFeatureException.class,
        "x: Hash algorithm 'sha3' not supported");
    assertRefused(d -> putString(d, 40, "xts-random"), UnsupportedFeatureException.class,
        "x: IV generator 'random' not supported");
    assertRefused(d -> putString(d, 40, "xts-essiv"), UnsupportedFeatureException.class,
        "x: Missing IV generator hash specification");
    assertRefused(d -> putString(d, 40, "xts-essiv:sha1"), UnsupportedFeatureException.class,
        "x: No AES cipher with key size 20 available");
    assertRefused(d -> putString(d, 8, "twofish"), UnsupportedFeatureException.class,
        "x: cipher 'twofish-256' is not supported by qcow4j");
  }

  @Test
  void boundsWhatAHostileHeaderMakesUsCompute() throws Exception {
    assertRefused(d -> putInt(d, 164, -1), ImageLimitException.class,
        "x: LUKS header field master_key_iterations at offset 164 is 4294967295, over qcow4j's limit of 268435456");
    assertRefused(d -> putInt(d, 208 + 4, -1), ImageLimitException.class,
        "x: LUKS key slot 0 field iterations at offset 212 is 4294967295, over qcow4j's limit of 268435456");
    // a huge key length is refused by the cipher lookup before anything is allocated for it
    assertRefused(d -> putInt(d, 108, Integer.MAX_VALUE), CorruptImageException.class,
        "x: Keyslot 0 is overlapping with the encrypted payload");
    assertThatThrownBy(() -> LuksHeader.decode(new byte[100], "x")).isInstanceOf(CorruptImageException.class)
        .hasMessage("x: file is too short for a LUKS header (100 bytes of 592)");
  }

  private interface Damage {
    void apply(byte[] data);
  }

  private static void assertRefused(Damage damage, Class<? extends IOException> type, String message) throws Exception {
    byte[] data = valid();
    damage.apply(data);
    assertThatThrownBy(() -> LuksHeader.decode(data, "x")).isInstanceOf(type).hasMessage(message);
  }

  private static void fill(byte[] data, int at, int length) {
    for (int i = 0; i < length; i++) {
      data[at + i] = 'a';
    }
  }

  private static void putInt(byte[] data, int at, int value) {
    ByteBuffer.wrap(data).putInt(at, value);
  }

  private static void putString(byte[] data, int at, String value) {
    byte[] bytes = value.getBytes(StandardCharsets.US_ASCII);
    java.util.Arrays.fill(data, at, at + 32, (byte) 0);
    System.arraycopy(bytes, 0, data, at, bytes.length);
  }
}
