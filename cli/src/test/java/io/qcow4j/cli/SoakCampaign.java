package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.LongConsumer;

/**
 * The campaign loop of the side-by-side soaks: rounds of a property, each from its own seed. The
 * default run takes a fixed number of rounds from seeds derived from the property's label (the
 * same every run) and stops at the first failure; QCOW4J_LONG=1 runs for QCOW4J_SOAK_SECONDS (or
 * -Dqcow4j.soak.seconds, 600 by default) from fresh seeds and collects every failing seed;
 * -DQCOW4J_SEED=seed replays one round. A round records the commands that built its images
 * ({@link #logCommand}), printed with a failure so that it can be replayed by hand.
 */
final class SoakCampaign {
  /** The commands that built the images of the running round, to replay a failure by hand. */
  static final StringBuilder SCRIPT = new StringBuilder();

  private SoakCampaign() {}

  /**
   * The real tools could not make a round's images (QEMU 7.2's compressed writes into small or
   * extended-L2 clusters mark the image corrupt, an option a target refuses...): the round is
   * skipped, as it compares nothing.
   */
  static final class QemuInputFailure extends RuntimeException {
    private static final long serialVersionUID = 1L;

    QemuInputFailure(String message) {
      super(message);
    }
  }

  static boolean longRun() {
    String value = System.getProperty("QCOW4J_LONG", System.getenv("QCOW4J_LONG"));
    return value != null && !value.isEmpty() && !"0".equals(value) && !"false".equalsIgnoreCase(value);
  }

  /** Runs the rounds of the property {@code label} (see the class comment); fails naming every failing seed. */
  static void run(String label, int shortRounds, LongConsumer round) {
    String forced = System.getProperty("QCOW4J_SEED", System.getenv("QCOW4J_SEED"));
    if (forced != null && !forced.isEmpty()) {
      SCRIPT.setLength(0);
      try {
        round.accept(Long.decode(forced));
      } finally {
        System.err.println("script:\n" + SCRIPT);
      }
      return;
    }
    boolean longRun = longRun();
    Random seeds = longRun ? new Random() : new Random(label.hashCode() * 0x9E3779B97F4A7C15L);
    String seconds = System.getProperty("qcow4j.soak.seconds", System.getenv().getOrDefault("QCOW4J_SOAK_SECONDS", "600"));
    long deadline = System.nanoTime() + Long.parseLong(seconds) * 1_000_000_000L;
    List<String> failures = new ArrayList<>();
    int rounds = 0;
    int skipped = 0;
    while (longRun ? System.nanoTime() < deadline : rounds < shortRounds) {
      long seed = seeds.nextLong();
      rounds++;
      SCRIPT.setLength(0);
      if (longRun) {
        System.err.println("SOAK round " + label + " " + rounds + " seed=" + seed);
      }
      long started = System.nanoTime();
      try {
        round.accept(seed);
        if (longRun) {
          System.err.println("SOAK round " + label + " " + rounds + " took " + (System.nanoTime() - started) / 1_000_000
              + " ms");
        }
      } catch (QemuInputFailure e) {
        skipped++;
      } catch (AssertionError | RuntimeException e) {
        String first = String.valueOf(e.getMessage()).lines().limit(40).reduce((a, b) -> a + "\n" + b).orElse("");
        failures.add("seed=" + seed + ": " + first);
        System.err.println("SOAK FAILURE " + label + " seed=" + seed + "\n" + e.getMessage() + "\nscript:\n" + SCRIPT);
        if (!longRun) {
          break;
        }
      }
    }
    System.err.println("SOAK " + label + ": " + rounds + " rounds, " + skipped + " skipped (QEMU could not make"
        + " their images), " + failures.size() + " failing");
    if (!failures.isEmpty()) {
      fail(label + ": " + failures.size() + " of " + rounds + " rounds failed\n" + String.join("\n\n", failures));
    }
  }

  /** Records a command in the round's script. */
  static void logCommand(String... command) {
    for (String word : command) {
      SCRIPT.append(word.matches("[\\w@%+=:,./-]+") ? word : "'" + word + "'").append(' ');
    }
    SCRIPT.append('\n');
  }

  /** Runs a real QEMU tool to build a round's images; its failure skips the round. */
  static Cli.Result qemu(String... command) {
    logCommand(command);
    Cli.Result result = Qemu.run(command);
    if (result.exitCode() != 0) {
      throw new QemuInputFailure(String.join(" ", command) + " failed: " + result);
    }
    return result;
  }
}
