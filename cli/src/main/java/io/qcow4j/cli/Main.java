package io.qcow4j.cli;

import io.qcow4j.internal.storage.NativeCalls;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.Charset;
import java.util.List;

/**
 * The command line: qemu-img's (with qemu-io as "io" and qemu-nbd as "serve") under the name
 * qcow4j, or one QEMU tool's when the program runs as qemu-img, qemu-io or qemu-nbd. Reads the
 * options before the command as qemu-img's main does, then hands the rest to the command.
 */
public final class Main {
  /** Exit status of usage errors, like qemu-img's. */
  static final int USAGE_ERROR = 1;

  /** qemu-img's options before the command name (qcow4j adds --debug). */
  private static final String TOP_OPTIONS = "+:hVT:";

  private Main() {}

  /** Runs the command line on the process's stdout and stderr and returns its exit status. */
  public static int run(String... args) {
    Charset charset = Charset.defaultCharset();
    PrintWriter out = new PrintWriter(new OutputStreamWriter(System.out, charset), false);
    PrintWriter err = new PrintWriter(new OutputStreamWriter(System.err, charset), true);
    return run(out, err, args);
  }

  /** Runs the command line printing to {@code out} and {@code err} and returns its exit status. */
  public static int run(PrintWriter out, PrintWriter err, String... args) {
    return run(System.in, out, err, args);
  }

  /** As {@link #run(PrintWriter, PrintWriter, String...)}, reading standard input from {@code in}. */
  public static int run(InputStream in, PrintWriter out, PrintWriter err, String... args) {
    Program program = Program.current();
    // qemu_strtosz's deprecation warnings, printed where QEMU's tools parse a size
    io.qcow4j.options.OptionNumbers.warnTo(warning -> {
      err.println(QemuErrors.PREFIX + "warning: " + warning);
      err.flush();
    });
    try {
      return switch (program) {
        case QEMU_IO -> {
          NativeCalls.prepareInBackground();
          yield IoCommand.main(new Invocation(program, withName(program.toolName(), args), in, out, err, false));
        }
        case QEMU_NBD -> {
          NativeCalls.prepareInBackground();
          yield ServeCommand.main(new Invocation(program, withName(program.toolName(), args), out, err, false));
        }
        default -> qemuImg(program, in, out, err, args);
      };
    } finally {
      io.qcow4j.options.OptionNumbers.warnTo(null);
      out.flush();
      err.flush();
    }
  }

  /**
   * Runs the command line and ends the process with its status. The process halts rather than
   * exits: System.exit first sets up the JDK's System.Logger to log the exit (a service lookup over
   * the class path and java.logging, 10-20 ms of a short command). Halting skips the shutdown
   * hooks, which the tool needs for nothing once its command returned (serve's hook closes a
   * server that is closed by then); the launcher sets {@code qcow4j.exitHooks} when extra JVM
   * options are given, since those may install hooks of their own (a flight recording's dump).
   */
  public static void main(String[] args) {
    int status = run(args);
    if (Boolean.getBoolean("qcow4j.exitHooks")) {
      System.exit(status);
    }
    System.out.flush();
    System.err.flush();
    Runtime.getRuntime().halt(status);
  }

  private static int qemuImg(Program program, InputStream in, PrintWriter out, PrintWriter err, String[] args) {
    Invocation top = new Invocation(program, withName(program.toolName(), args), out, err, false);
    if (args.length < 1) {
      return top.usageError("Not enough arguments");
    }
    Getopt getopt = top.getopt(TOP_OPTIONS, List.of(
        Getopt.LongOption.flag("help", 'h'),
        Getopt.LongOption.flag("version", 'V'),
        Getopt.LongOption.withArgument("trace", 'T')));
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      switch (option) {
        case 'h' -> {
          return top.help();
        }
        case 'V' -> {
          out.print(program.versionText());
          return 0;
        }
        case 'T' -> {
          // tracing: qcow4j has no trace events; the option is read and has no effect
        }
        default -> {
          if (!top.commonOption(getopt, option)) {
            return USAGE_ERROR;
          }
        }
      }
    }
    List<String> rest = getopt.operands();
    if (rest.isEmpty()) {
      if (top.debug()) {
        return top.usageError("Not enough arguments");
      }
      return 0;
    }
    String[] argv = rest.toArray(String[]::new);
    String name = argv[0];
    boolean qcow4j = program == Program.QCOW4J;
    if (opensImages(name, qcow4j)) {
      // the first native call (the image locks of the first open) links for tens of milliseconds:
      // on a thread of its own while the command reads its options and opens its files
      NativeCalls.prepareInBackground();
    }
    Invocation invocation = new Invocation(program, argv, in, out, err, top.debug());
    return switch (name) {
      case "help" -> qcow4j ? top.help() : notFound(top, name);
      case "io" -> qcow4j ? IoCommand.main(invocation.named("qcow4j io")) : notFound(top, name);
      case "serve" -> qcow4j ? ServeCommand.main(invocation.named("qcow4j serve")) : notFound(top, name);
      case "info" -> InfoCommand.main(invocation);
      case "map" -> MapCommand.main(invocation);
      case "check" -> CheckCommand.main(invocation);
      case "snapshot" -> SnapshotCommand.main(invocation);
      case "bitmap" -> BitmapCommand.main(invocation);
      case "resize" -> ResizeCommand.main(invocation);
      case "measure" -> MeasureCommand.main(invocation);
      case "amend" -> AmendCommand.main(invocation);
      case "compare" -> CompareCommand.main(invocation);
      case "create" -> CreateCommand.main(invocation);
      case "commit" -> CommitCommand.main(invocation);
      case "rebase" -> RebaseCommand.main(invocation);
      case "bench" -> BenchCommand.main(invocation);
      case "convert" -> ConvertCommand.main(invocation);
      case "dd" -> DdCommand.main(invocation);
      default -> notFound(top, name);
    };
  }

  /** Whether the command {@code name} opens or creates images (help and unknown names do not). */
  private static boolean opensImages(String name, boolean qcow4j) {
    return switch (name) {
      case "io", "serve" -> qcow4j;
      case "info", "map", "check", "snapshot", "bitmap", "resize", "measure", "amend", "compare", "create",
          "commit", "rebase", "bench", "convert", "dd" -> true;
      default -> false;
    };
  }

  private static int notFound(Invocation top, String name) {
    return top.usageError("Command not found: " + name);
  }

  private static String[] withName(String name, String[] args) {
    String[] argv = new String[args.length + 1];
    argv[0] = name;
    System.arraycopy(args, 0, argv, 1, args.length);
    return argv;
  }
}
