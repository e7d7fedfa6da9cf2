package io.qcow4j.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * One command's run: the program it runs as, its words (argv[0] the command's name, as qemu-img
 * hands its commands their arguments), where it prints, and whether --debug asked for stack
 * traces. Holds what every command does the same way: its getopt, qemu-img's usage errors and
 * help, and the printing of failures.
 */
final class Invocation {
  /** Values of long options without a letter, as QEMU's OPTION_* enums (getopt returns them). */
  static final int OUTPUT = 256;
  static final int BACKING_CHAIN = 257;
  static final int OBJECT = 258;
  static final int IMAGE_OPTS = 259;
  static final int TARGET_IMAGE_OPTS = 260;
  static final int SIZE = 261;
  static final int PREALLOCATION = 262;
  static final int SHRINK = 263;
  static final int SALVAGE = 264;
  static final int TARGET_IS_ZERO = 265;
  static final int FORCE = 266;
  static final int BITMAPS = 267;
  static final int SKIP_BROKEN = 268;
  static final int FLUSH_INTERVAL = 269;
  static final int NO_DRAIN = 270;
  static final int PATTERN = 271;
  /** qcow4j's own --debug, in every table when the program is qcow4j. */
  static final int DEBUG = 511;

  private final Program program;
  private final String[] argv;
  private final PrintWriter out;
  private final PrintWriter err;
  private final InputStream in;
  private boolean debug;

  Invocation(Program program, String[] argv, PrintWriter out, PrintWriter err, boolean debug) {
    this(program, argv, System.in, out, err, debug);
  }

  Invocation(Program program, String[] argv, InputStream in, PrintWriter out, PrintWriter err, boolean debug) {
    this.program = program;
    this.argv = argv;
    this.in = in;
    this.out = out;
    this.err = err;
    this.debug = debug;
  }

  /** Where the command reads its standard input (qemu-io's commands without -c). */
  InputStream in() {
    return in;
  }

  Program program() {
    return program;
  }

  PrintWriter out() {
    return out;
  }

  PrintWriter err() {
    return err;
  }

  boolean debug() {
    return debug;
  }

  /** The command's name, argv[0]. */
  String name() {
    return argv[0];
  }

  /** How many words there are, the command's name included (C's argc). */
  int argc() {
    return argv.length;
  }

  /** The last word. */
  String lastWord() {
    return argv[argv.length - 1];
  }

  /** The same run with another argv[0] (the name getopt's messages start with). */
  Invocation named(String name) {
    String[] renamed = argv.clone();
    renamed[0] = name;
    return new Invocation(program, renamed, in, out, err, debug);
  }

  /** The same run without its last word (qemu-img resize takes the size off before getopt). */
  Invocation withoutLastWord() {
    String[] shorter = new String[argv.length - 1];
    System.arraycopy(argv, 0, shorter, 0, shorter.length);
    return new Invocation(program, shorter, in, out, err, debug);
  }

  /** A getopt over the words; qcow4j adds --debug to the long options. */
  Getopt getopt(String shortOptions, List<Getopt.LongOption> longOptions) {
    List<Getopt.LongOption> table = new ArrayList<>(longOptions);
    if (program == Program.QCOW4J) {
      table.add(Getopt.LongOption.flag("debug", DEBUG));
    }
    return new Getopt(argv, shortOptions, table, err);
  }

  /**
   * Handles what every qemu-img command's option switch does alike: --debug (true: parsing goes
   * on), and otherwise ':' and '?' with qemu-img's messages (false: the command ends with
   * {@link #usageError}'s status). Any other value is a bug in the command's table.
   */
  boolean commonOption(Getopt getopt, int option) {
    if (option == DEBUG) {
      debug = true;
      return true;
    }
    if (option == Getopt.MISSING_ARGUMENT) {
      usageError("missing argument for option '" + getopt.lastWord() + "'");
    } else {
      usageError("unrecognized option '" + getopt.lastWord() + "'");
    }
    return false;
  }

  /** Whether the last --object definition asked for help (printed), rather than failing. */
  private boolean objectHelp;

  /**
   * An --object argument, checked as the QEMU tools check it while they read their options: true
   * when it joins {@code objects}; false when it asked for help (printed) or failed (said), after
   * which the command ends with {@link #objectStatus}.
   */
  boolean defineObject(List<String> objects, String definition) {
    List<String> all = new ArrayList<>(objects);
    all.add(definition);
    try {
      if (ImageArguments.secrets(all, out) == null) {
        objectHelp = true;
        return false;
      }
    } catch (CommandFailure failure) {
      error(failure.getMessage());
      return false;
    }
    objects.add(definition);
    return true;
  }

  /** The exit status after an --object that {@link #defineObject} refused: 0 for help, else {@code failed}. */
  int objectStatus(int failed) {
    return objectHelp ? 0 : failed;
  }

  /**
   * Runs a check of an option's value as the QEMU tools make it while they read their options:
   * true when it passed, false when it failed (its message said), ending the command with status 1.
   */
  boolean valid(Runnable check) {
    try {
      check.run();
      return true;
    } catch (CommandFailure failure) {
      error(failure.getMessage());
      return false;
    }
  }

  /** qemu-img's error_exit: the message, then where to find help; status 1. */
  int usageError(String message) {
    out.flush();
    err.println(QemuErrors.PREFIX + message);
    err.println("Try '" + program.toolName() + " --help' for more information");
    err.flush();
    return Main.USAGE_ERROR;
  }

  /** One error line, qemu-img's error_report; status 1. */
  int error(String message) {
    out.flush();
    err.println(QemuErrors.PREFIX + message);
    err.flush();
    return 1;
  }

  /** qemu-img's help(): the whole help text, status 0. */
  int help() {
    out.print(HelpText.qemuImg(program));
    out.flush();
    return 0;
  }

  /**
   * Runs a command's body: a failure becomes its one line on stderr (with QEMU's hint line under
   * it, and the stack trace with --debug) and its exit status.
   */
  int execute(Callable<Integer> body) {
    try {
      return body.call();
    } catch (Exception failure) {
      return failed(failure);
    } finally {
      out.flush();
      err.flush();
    }
  }

  /** Runs a body whose failures are printed as QEMU prints them, which may be more than one line. */
  int executeQemuStyle(Callable<Integer> body) {
    return execute(() -> {
      try {
        return body.call();
      } catch (CommandFailure failure) {
        out.flush();
        Failures.announceCorruptionIn(failure, err);
        err.println(QemuErrors.PREFIX + failure.getMessage());
        Failures.hint(failure).ifPresent(err::println);
        if (debug) {
          failure.printStackTrace(err);
        }
        return failure.exitCode();
      }
    });
  }

  private int failed(Exception failure) {
    out.flush();
    Failures.announceCorruptionIn(failure, err);
    int exitCode;
    if (failure instanceof CommandFailure commandFailure) {
      err.println(QemuErrors.PREFIX + Failures.oneLine(commandFailure.getMessage()));
      exitCode = commandFailure.exitCode();
    } else if (failure instanceof IOException || failure instanceof UncheckedIOException) {
      err.println(QemuErrors.PREFIX
          + Failures.reason(failure instanceof UncheckedIOException unchecked ? unchecked.getCause() : failure, null));
      exitCode = 1;
    } else {
      err.println(QemuErrors.PREFIX + "internal error: " + Failures.reason(failure, null) + " ("
          + failure.getClass().getName() + "; run with --debug for the stack trace)");
      exitCode = 1;
    }
    Failures.hint(failure).ifPresent(err::println);
    if (debug) {
      failure.printStackTrace(err);
    }
    return exitCode;
  }
}
