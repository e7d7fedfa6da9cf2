package io.qcow4j.nbd.testkit;

/** The seed of a randomised test (from -Dqcow4j.seed or QCOW4J_SEED to replay one, else fresh) and whether the long run was asked. */
public final class TestSeeds {
  private TestSeeds() {}

  /** The seed to use; it is printed, and every failure message repeats it. */
  public static long seed() {
    String given = System.getProperty("qcow4j.seed", System.getenv("QCOW4J_SEED"));
    long seed = given != null && !given.isBlank() ? Long.parseLong(given.strip()) : System.nanoTime();
    System.out.println("seed " + seed + " (replay with -Dqcow4j.seed=" + seed + ")");
    return seed;
  }

  /** Whether QCOW4J_LONG=1 asks for the long version of the randomised tests. */
  public static boolean longRun() {
    return "1".equals(System.getenv("QCOW4J_LONG"));
  }
}
