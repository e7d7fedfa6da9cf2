package io.qcow4j.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

/**
 * The commands not yet moved to getopt, still parsed by picocli: {@link Main} hands it a command
 * line from the command's name on. Goes away with the last such command.
 */
@Command(name = "qcow4j")
final class PicocliCommands implements Callable<Integer> {
  @Option(names = "--debug", description = "Print stack traces of errors.")
  boolean debug;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() {
    return Main.USAGE_ERROR;
  }

  /** The picocli command class of {@code name}, or null when it has none. */
  static Class<?> commandClass(String name) {
    return switch (name) {
      case "serve" -> ServeCommand.class;
      default -> null;
    };
  }

  /** Runs {@code args} (the command's name first) printing to {@code out} and {@code err}. */
  static int run(PrintWriter out, PrintWriter err, boolean debug, String... args) {
    CommandLine commandLine = new CommandLine(new PicocliCommands());
    commandLine.addSubcommand(args[0], commandClass(args[0]));
    commandLine.setOut(out);
    commandLine.setErr(err);
    commandLine.setParameterExceptionHandler(PicocliCommands::usageError);
    commandLine.setExecutionExceptionHandler((failure, failed, parseResult) -> failed(failure, failed, parseResult));
    String[] all = args;
    if (debug) {
      all = new String[args.length + 1];
      all[0] = "--debug";
      System.arraycopy(args, 0, all, 1, args.length);
    }
    try {
      return commandLine.execute(all);
    } finally {
      out.flush();
      err.flush();
    }
  }
  /** One line naming the command and what is wrong with its arguments. */
  private static int usageError(ParameterException failure, String[] args) {
    CommandLine failed = failure.getCommandLine();
    PrintWriter err = failed.getErr();
    String command = failed.getCommandSpec().qualifiedName();
    err.println(QemuErrors.PREFIX + Failures.oneLine(failure.getMessage()) + " (try '" + command + " --help')");
    if (java.util.Arrays.asList(args).contains("--debug")) {
      failure.printStackTrace(err);
    }
    err.flush();
    failed.getOut().flush();
    return failed.getCommandSpec().userObject() instanceof CompareCommand ? CompareCommand.ERROR : Main.USAGE_ERROR;
  }

  private static int failed(Exception failure, CommandLine failed, ParseResult parseResult) {
    PrintWriter err = failed.getErr();
    failed.getOut().flush();
    int exitCode;
    if (failure instanceof CommandFailure commandFailure) {
      err.println(QemuErrors.PREFIX + Failures.oneLine(commandFailure.getMessage()));
      exitCode = commandFailure.exitCode();
    } else if (failure instanceof IOException || failure instanceof UncheckedIOException) {
      err.println(QemuErrors.PREFIX + Failures.reason(failure instanceof UncheckedIOException unchecked ? unchecked.getCause() : failure, null));
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

  /** The version printed by a command's --version. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {Program.current().versionText().strip()};
    }
  }
}
