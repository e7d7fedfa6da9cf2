package io.qcow4j.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.Charset;
import java.util.LinkedHashMap;
import java.util.Map;
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
    description = "Create, inspect, convert and serve qcow2 and raw disk images.")
public final class Main implements Callable<Integer> {
  /** Exit status of usage errors, like qemu-img's. */
  static final int USAGE_ERROR = 1;

  /**
   * The subcommands in the order help lists them. Picocli builds a command's model by reflection
   * when it is added, which costs more than the rest of a short command's start: a command line
   * that names one of these gets only that one (see {@link #addSubcommands}).
   */
  private static final Map<String, Class<?>> SUBCOMMANDS = subcommands();

  private static Map<String, Class<?>> subcommands() {
    Map<String, Class<?>> subcommands = new LinkedHashMap<>();
    subcommands.put("info", InfoCommand.class);
    subcommands.put("map", MapCommand.class);
    subcommands.put("convert", ConvertCommand.class);
    subcommands.put("compare", CompareCommand.class);
    subcommands.put("io", IoCommand.class);
    subcommands.put("measure", MeasureCommand.class);
    subcommands.put("commit", CommitCommand.class);
    subcommands.put("rebase", RebaseCommand.class);
    subcommands.put("bench", BenchCommand.class);
    subcommands.put("amend", AmendCommand.class);
    subcommands.put("serve", ServeCommand.class);
    subcommands.put("create", CreateCommand.class);
    subcommands.put("resize", ResizeCommand.class);
    subcommands.put("check", CheckCommand.class);
    subcommands.put("snapshot", SnapshotCommand.class);
    subcommands.put("help", CommandLine.HelpCommand.class);
    return subcommands;
  }

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
    addSubcommands(commandLine, args);
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

  /**
   * Adds the subcommand the arguments name; none for a bare --version; else every subcommand (for
   * help, "Unmatched argument" and its suggestions). The top-level options (--debug, --help,
   * --version) take no value, so the first argument that is not an option is the command's name.
   */
  private static void addSubcommands(CommandLine commandLine, String[] args) {
    String name = null;
    boolean versionOnly = args.length > 0;
    for (String arg : args) {
      if (!arg.startsWith("-")) {
        name = arg;
        break;
      }
      versionOnly &= arg.equals("--version") || arg.equals("-V") || arg.equals("--debug");
    }
    Class<?> named = name == null || name.equals("help") ? null : SUBCOMMANDS.get(name);
    if (named != null) {
      commandLine.addSubcommand(name, named);
    } else if (name != null || !versionOnly) {
      for (Map.Entry<String, Class<?>> subcommand : SUBCOMMANDS.entrySet()) {
        commandLine.addSubcommand(subcommand.getKey(), subcommand.getValue());
      }
    }
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
