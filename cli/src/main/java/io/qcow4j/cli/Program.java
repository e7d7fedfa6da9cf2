package io.qcow4j.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * Which tool this process is: qcow4j itself, or qemu-img, qemu-io or qemu-nbd when bin/qcow4j runs
 * through a symbolic link of that name (it passes the name as the system property
 * {@code qcow4j.program}). The name starts every message and decides the command line.
 */
enum Program {
  QCOW4J("qcow4j"),
  QEMU_IMG("qemu-img"),
  QEMU_IO("qemu-io"),
  QEMU_NBD("qemu-nbd");

  /** The version of the QEMU tools whose command lines and messages the three names mirror. */
  static final String QEMU_VERSION = "7.2.0";

  private static final Program CURRENT = named(System.getProperty("qcow4j.program", ""));

  private final String toolName;

  Program(String toolName) {
    this.toolName = toolName;
  }

  /** The program this process runs as. */
  static Program current() {
    return CURRENT;
  }

  /** The program called {@code name} (a link's file name); qcow4j for any other name. */
  static Program named(String name) {
    for (Program program : values()) {
      if (program.toolName.equals(name)) {
        return program;
      }
    }
    return QCOW4J;
  }

  /** The name messages start with: "qemu-img", or "qcow4j". */
  String toolName() {
    return toolName;
  }

  /**
   * What --version prints: the QEMU tool's first line with the QEMU version whose behaviour qcow4j
   * mirrors and qcow4j's own version in the parentheses where a distribution puts its package
   * version (scripts read the version from that line), then what answers; qcow4j its own line.
   */
  String versionText() {
    String qcow4j = qcow4jVersion();
    return switch (this) {
      case QCOW4J -> "qcow4j version " + qcow4j + "\n";
      case QEMU_NBD -> "qemu-nbd " + QEMU_VERSION + " (qcow4j " + qcow4j + ")\n"
          + "qcow4j: a pure-Java qcow2 engine with the command line of qemu-nbd\n";
      default -> toolName + " version " + QEMU_VERSION + " (qcow4j " + qcow4j + ")\n"
          + "qcow4j: a pure-Java qcow2 engine with the command line of " + toolName + "\n";
    };
  }

  /** qcow4j's version, from the build. */
  static String qcow4jVersion() {
    Properties properties = new Properties();
    try (InputStream in = Program.class.getResourceAsStream("/qcow4j-version.properties")) {
      if (in != null) {
        properties.load(in);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return properties.getProperty("version", "unknown");
  }
}
