package io.qcow4j.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Where benchmark images live: a fresh directory under $QCOW4J_BENCH_DIR, else the JVM's temporary directory. */
final class BenchFiles {
  private BenchFiles() {}

  /** A new, empty directory for one benchmark state's images. */
  static Path newDirectory() throws IOException {
    String configured = System.getenv("QCOW4J_BENCH_DIR");
    Path parent = Path.of(configured != null && !configured.isBlank() ? configured : System.getProperty("java.io.tmpdir"));
    Files.createDirectories(parent);
    return Files.createTempDirectory(parent, "qcow4j-jmh-");
  }

  /**
   * Unlinks an image that is still open, and its directory; the benchmark's forked JVM exits soon
   * after and the kernel drops the file then. Closing the image first would flush and fdatasync it,
   * making ext4 write out every dirty block and allocate an extent per written cluster, and freeing
   * tens of thousands of extents takes minutes on a file system mounted with {@code discard} (as
   * the shared machine's root is): a run's time would go to cleaning up rather than measuring.
   */
  static void abandon(Path image) throws IOException {
    Files.deleteIfExists(image);
    Files.deleteIfExists(image.getParent());
  }
}
