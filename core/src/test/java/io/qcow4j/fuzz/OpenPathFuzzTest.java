package io.qcow4j.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.time.Duration;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Jazzer fuzz target over the open path: a whole image in memory, opened read-only and
 * read-write, read, written, discarded, flushed and checked. Only our exceptions (IOException and
 * its ImageException subclasses) may come out; any other throwable, a hang or a large heap
 * appetite is a finding.
 *
 * <p>Without JAZZER_FUZZ it is a regression test over the qemu-img seeds ({@link SeedImages}) and
 * the committed inputs under {@code OpenPathFuzzTestInputs/openAndUse} (earlier findings). The
 * core pom's "fuzz" surefire execution sets JAZZER_FUZZ: the seeds and inputs run first, then
 * Jazzer mutates them for {@code jazzer.max_duration} (20 s; 10 min with QCOW4J_LONG=1), and a
 * crash is written as a new input file beside the committed ones.
 *
 * <p>By hand: {@code mvn -pl core test -Dtest=OpenPathFuzzTest -Dsurefire.failIfNoSpecifiedTests=false}
 * with {@code -Dfuzz.duration=10m} to fuzz longer, {@code -Djazzer.keep_going=100} to go on past
 * findings (each distinct stack is written once), or {@code -Dfuzz.enabled=0} for the regression
 * part alone.
 */
class OpenPathFuzzTest {
  /**
   * Ten seconds for one input: the largest seeds (2 MiB clusters) need about one, instrumented,
   * on a machine shared with other builds; a hang never ends.
   */
  static final Duration TIME_LIMIT = Duration.ofSeconds(10);
  /**
   * Heap one input may allocate in total: the largest legal tables (32 MiB L1, 8 MiB refcount
   * table) and caches fit with room; a walk sized by an untrusted field does not.
   */
  static final long HEAP_LIMIT_BYTES = 512L << 20;

  @MethodSource("io.qcow4j.fuzz.SeedImages#all")
  @FuzzTest(maxDuration = "20s")
  void openAndUse(byte[] image) {
    BoundedRun.run(() -> OpenPathScenario.run(image), TIME_LIMIT, HEAP_LIMIT_BYTES);
  }
}
