package io.qcow4j.bench;

/** The options every forked benchmark JVM gets, so that nothing but results reaches the terminal. */
final class BenchJvm {
  /** The engine reaches fallocate and preadv through FFM, and zstd-jni loads a library: both are native access. */
  static final String NATIVE_ACCESS = "--enable-native-access=ALL-UNNAMED";

  /** JMH 1.37 calls sun.misc.Unsafe::objectFieldOffset, about which JDK 24 and later warn on stderr. */
  static final String UNSAFE_ACCESS = "--sun-misc-unsafe-memory-access=allow";

  private BenchJvm() {}
}
