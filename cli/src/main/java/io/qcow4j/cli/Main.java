package io.qcow4j.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.Charset;
import java.util.Properties;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

/** The qcow4j command line: qemu-img, qemu-io and qemu-nbd's commands under one name. */
@Command(
    name = "qcow4j",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Create, inspect, convert and serve qcow2 and raw disk images.",
    subcommands = {
      InfoCommand.class,
      MapCommand.class,
      ConvertCommand.class,
      CompareCommand.class,
      IoCommand.class,
      MeasureCommand.class,
      CommitCommand.class,
      RebaseCommand.class,
      BenchCommand.class,
      AmendCommand.class,
      ServeCommand.class,
      CreateCommand.class,
      ResizeCommand.class,
      CheckCommand.class,
      SnapshotCommand.class,
      CommandLine.HelpCommand.class
    })
public final class Main implements Callable<Integer> {
  /** Exit status of usage errors, like qemu-img's. */
  static final int USAGE_ERROR = 1;

  @Option(names = "--debug", description = "Print stack traces of errors.")
  boolean debug;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    spec.commandLine().getErr().println("qcow4j: Not enough arguments (try 'qcow4j --help')");
    return USAGE_ERROR;
  }

  /** Runs the command line on the process's stdout and stderr and returns its exit status. */
  public static int run(String... args) {
    Charset charset = Charset.defaultCharset();
    PrintWriter out = new PrintWriter(new OutputStreamWriter(System.out, charset), false);
    PrintWriter err = new PrintWriter(new OutputStreamWriter(System.err, charset), true);
    return run(out, err, args);
  }

  /** Runs the command line printing to {@code out} and {@code err} and returns its exit status. */
  public static int run(PrintWriter out, PrintWriter err, String... args) {
    CommandLine commandLine = new CommandLine(new Main());
    commandLine.setOut(out);
    commandLine.setErr(err);
    commandLine.setParameterExceptionHandler(Main::usageError);
    commandLine.setExecutionExceptionHandler((failure, failed, parseResult) -> failed(failure, failed, parseResult));
    try {
      return commandLine.execute(args);
    } finally {
      out.flush();
      err.flush();
    }
  }

  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** One line naming the command and what is wrong with its arguments. */
  private static int usageError(ParameterException failure, String[] args) {
    CommandLine failed = failure.getCommandLine();
    PrintWriter err = failed.getErr();
    String command = failed.getCommandSpec().qualifiedName();
    err.println("qcow4j: " + Failures.oneLine(failure.getMessage()) + " (try '" + command + " --help')");
    if (java.util.Arrays.asList(args).contains("--debug")) {
      failure.printStackTrace(err);
    }
    err.flush();
    failed.getOut().flush();
    return failed.getCommandSpec().userObject() instanceof CompareCommand ? CompareCommand.ERROR : USAGE_ERROR;
  }

  private static int failed(Exception failure, CommandLine failed, ParseResult parseResult) {
    PrintWriter err = failed.getErr();
    failed.getOut().flush();
    int exitCode;
    if (failure instanceof CommandFailure commandFailure) {
      err.println("qcow4j: " + Failures.oneLine(commandFailure.getMessage()));
      exitCode = commandFailure.exitCode();
    } else if (failure instanceof IOException || failure instanceof UncheckedIOException) {
      err.println("qcow4j: " + Failures.reason(failure instanceof UncheckedIOException unchecked ? unchecked.getCause() : failure, null));
      exitCode = 1;
    } else {
      err.println("qcow4j: internal error: " + Failures.reason(failure, null) + " (" + failure.getClass().getName()
          + "; run with --debug for the stack trace)");
      exitCode = 1;
    }
    Failures.hint(failure).ifPresent(err::println);
    if (debugRequested(parseResult)) {
      failure.printStackTrace(err);
    }
    err.flush();
    return exitCode;
  }

  /** Whether --debug was given, before or after the command name. */
  private static boolean debugRequested(ParseResult parseResult) {
    for (ParseResult result = parseResult; result != null; result = result.subcommand()) {
      if (result.hasMatchedOption("--debug")) {
        return true;
      }
    }
    return false;
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
