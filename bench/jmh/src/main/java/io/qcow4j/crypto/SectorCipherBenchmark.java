package io.qcow4j.crypto;

import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The sector ciphers of encrypted images over one 1 MiB request (2,048 sectors), in each mode QEMU
 * creates LUKS volumes with. Throughput in requests per second; times 1 MiB is the rate.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
    "--add-opens", "java.base/sun.security.provider=ALL-UNNAMED"})
@State(Scope.Thread)
public class SectorCipherBenchmark {
  private static final int REQUEST = 1 << 20;

  /** Cipher mode and IV generator: aes-256-xts-plain64 is qemu-img's default. */
  @Param({"XTS-PLAIN64", "CBC-ESSIV", "CTR-PLAIN64"})
  public String spec;

  private SectorCipher cipher;
  private final byte[] data = new byte[REQUEST];
  private long sector;

  @Setup
  public void setUp() throws CryptoException {
    String[] parts = spec.split("-");
    IvGenAlgorithm ivgen = IvGenAlgorithm.valueOf(parts[1]);
    CipherSpec cipherSpec = CipherSpec.of(CipherAlgorithm.AES_256, CipherMode.valueOf(parts[0]), ivgen,
        ivgen == IvGenAlgorithm.ESSIV ? HashAlgorithm.SHA256 : null);
    byte[] key = new byte[cipherSpec.keyLength()];
    Random random = new Random(42);
    random.nextBytes(key);
    random.nextBytes(data);
    cipher = new SectorCipher(cipherSpec, key);
  }

  @Benchmark
  public byte[] encrypt() {
    cipher.encrypt(data, 0, REQUEST, sector);
    sector += REQUEST / SectorCipher.SECTOR_SIZE;
    return data;
  }

  @Benchmark
  public byte[] decrypt() {
    cipher.decrypt(data, 0, REQUEST, sector);
    sector += REQUEST / SectorCipher.SECTOR_SIZE;
    return data;
  }
}
