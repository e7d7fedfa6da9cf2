package io.qcow4j.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * What -h and --help print: each QEMU 7.2 tool's help text (kept as resources, as the tools print
 * them), under the name the program runs as; for qcow4j, qemu-img's with qcow4j's commands.
 */
final class HelpText {
  /** The block drivers qcow4j has, listed where qemu-img lists its formats. */
  private static final String FORMATS = "Supported formats: file qcow2 raw\n";
  /** The commands only qcow4j's own name has, in qemu-img's "Command syntax" list. */
  private static final String QCOW4J_COMMANDS = """
        io [--object objectdef] [--image-opts] [-f fmt] [-r] [-U] [-c command]... filename
        serve [--object objectdef] [--image-opts] [-f fmt] [-r] [-l snapshot_param] [-A] [-B bitmap]... [-p port] [-b address] [-x name] filename
        help [command]
      """;

  private HelpText() {}

  /** qemu-img's help (qcow4j's when {@code program} is qcow4j). */
  static String qemuImg(Program program) {
    String name = program.toolName();
    String body = resource("qemu-img-help.txt");
    if (program == Program.QCOW4J) {
      // qemu-img's commands that qcow4j has, then qemu-io and qemu-nbd as io and serve
      body = body.replaceAll("(?m)^  dd .*\\n", "")
          .replaceFirst("(?m)^\\n(?=Command parameters:)", QCOW4J_COMMANDS + "\n")
          .replace("    '-T', '--trace'", "    '--debug'            print the stack trace of a failure\n    '-T', '--trace'")
          .replace("QEMU disk image utility", "Create, inspect, convert and serve qcow2 and raw disk images: qemu-img's\n"
              + "commands, qemu-io's as 'io' and qemu-nbd's as 'serve'");
    }
    return program.versionText() + "usage: " + name + " [standard options] command [command options]\n" + body
        + FORMATS;
  }

  /** qemu-io's help for the program called {@code name}. */
  static String qemuIo(String name) {
    return "Usage: " + name + " [OPTIONS]... [-c STRING]... [file]\n"
        + resource("qemu-io-help.txt").replace("'qemu-io -c help'", "'" + name + " -c help'");
  }

  /** qemu-nbd's help for the program called {@code name}. */
  static String qemuNbd(String name) {
    return "Usage: " + name + " [OPTIONS] FILE\n  or:  " + name + " -L [OPTIONS]\n" + resource("qemu-nbd-help.txt");
  }

  private static String resource(String file) {
    try (InputStream in = HelpText.class.getResourceAsStream(file)) {
      if (in == null) {
        throw new IllegalStateException("missing resource " + file);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
