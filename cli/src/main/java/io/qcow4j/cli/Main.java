package io.qcow4j.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The qcow4j command line: qemu-img, qemu-io and qemu-nbd's commands under one name. */
@Command(
    name = "qcow4j",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Create, inspect, convert and serve qcow2 and raw disk images.",
    subcommands = {CommandLine.HelpCommand.class, ServeCommand.class})
public final class Main implements Runnable {

  @Override
  public void run() {
    new CommandLine(this).usage(System.err);
  }

  /** Runs the command line and returns its exit status. */
  public static int run(String... args) {
    return new CommandLine(new Main()).execute(args);
  }

  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** The version printed by --version, from the build. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      Properties properties = new Properties();
      try (InputStream in = Main.class.getResourceAsStream("/qcow4j-version.properties")) {
        if (in != null) {
          properties.load(in);
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return new String[] {"qcow4j version " + properties.getProperty("version", "unknown")};
    }
  }
}
