package io.qcow4j.crypto;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * PBKDF2, the cost of unlocking a LUKS key slot: one output block of 100,000 iterations per
 * operation, on the JDK's SHA compression reached by {@code IntrinsicHmac} (the launcher's
 * {@code --add-opens}, passed here too).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
    "--add-opens", "java.base/sun.security.provider=ALL-UNNAMED"})
@State(Scope.Thread)
public class Pbkdf2Benchmark {
  @Param({"SHA1", "SHA256", "SHA512"})
  public String hash;

  private final byte[] password = "correct horse battery staple".getBytes(StandardCharsets.US_ASCII);
  private final byte[] salt = new byte[32];

  @Benchmark
  public byte[] derive() {
    HashAlgorithm algorithm = HashAlgorithm.valueOf(hash);
    byte[] out = new byte[algorithm.digestLength()];
    Pbkdf2.derive(algorithm, password, salt, 100_000, out);
    return out;
  }
}
