package io.qcow4j.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The qcow4j command line as a process of its own, a JVM started on the test class path, for the
 * unit tests whose tool must be a process (killed by sigraise, serving while another process
 * connects) without being the packaged launcher: bin/qcow4j in the test phase of a clean checkout
 * first builds the jar with a Maven of its own (a minute of a run). ToolNamesIT and the other *IT
 * tests run bin/qcow4j itself, after the package phase made its jar.
 */
final class ToolProcess {
  private ToolProcess() {}

  /** The command that runs qcow4j with {@code args}: the JVM options of the launcher that matter here. */
  static String[] command(String... args) {
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "--enable-native-access=ALL-UNNAMED", "--add-opens", "java.base/sun.security.provider=ALL-UNNAMED",
        "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
        Main.class.getName()));
    command.addAll(List.of(args));
    return command.toArray(String[]::new);
  }
}
