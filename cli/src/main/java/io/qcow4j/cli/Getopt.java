package io.qcow4j.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * glibc's getopt_long over a command line, as the QEMU tools and qemu-io's commands call it: short
 * options clustered or with attached values, long options with "=" or the next word, unique
 * prefixes of long options, options and operands in any order (the words permuted as glibc permutes
 * argv), "--" ends the options, a leading '+' stops at the first operand, a leading ':' silences
 * the messages and returns ':' for a missing argument. Messages are glibc's, after argv[0].
 */
final class Getopt {
  /** Returned when every option has been read. */
  static final int END = -1;
  /** Returned for an unknown option, an ambiguous or misused long option (the messages said which). */
  static final int UNKNOWN = '?';
  /** Returned, with a ':' at the start of the option string, for an option that lacks its argument. */
  static final int MISSING_ARGUMENT = ':';

  /** Whether a long option takes an argument, as struct option's has_arg. */
  enum HasArgument {
    NO, REQUIRED, OPTIONAL
  }

  /** One entry of the long option table: its name, argument, and the value next() returns for it. */
  record LongOption(String name, HasArgument hasArgument, int value) {
    static LongOption flag(String name, int value) {
      return new LongOption(name, HasArgument.NO, value);
    }

    static LongOption withArgument(String name, int value) {
      return new LongOption(name, HasArgument.REQUIRED, value);
    }
  }

  private final String[] argv;
  private final String shortOptions;
  private final List<LongOption> longOptions;
  private final PrintWriter err;
  private final boolean requireOrder;
  private final boolean printErrors;
  private final boolean colonMode;
  private int optind = 1;
  private int firstOperand = 1;
  private int lastOperand = 1;
  /** The rest of the clustered short options being read, or null. */
  private String nextChars;
  private String optarg;
  private int optopt;

  /**
   * A parser over {@code argv} (argv[0] is the program or command name that prefixes messages),
   * which it permutes as it reads; messages go to {@code err} unless the option string starts
   * (after '+') with ':'. Without a long option table (null, plain getopt) "--x" is read as short
   * options.
   */
  Getopt(String[] argv, String optionString, List<LongOption> longOptions, PrintWriter err) {
    this.argv = argv.clone();
    this.longOptions = longOptions == null ? null : List.copyOf(longOptions);
    this.err = err;
    String options = optionString;
    requireOrder = options.startsWith("+");
    if (requireOrder) {
      options = options.substring(1);
    }
    colonMode = options.startsWith(":");
    printErrors = !colonMode;
    this.shortOptions = options;
  }

  /**
   * The parser of a qemu-io command's words (no argv[0]), silent: unknown options come back as
   * {@link #UNKNOWN} and missing arguments as {@link #MISSING_ARGUMENT}, the letter in
   * {@link #optopt()}.
   */
  static Getopt ofWords(String command, List<String> words, String optionString) {
    String[] argv = new String[words.size() + 1];
    argv[0] = command;
    for (int i = 0; i < words.size(); i++) {
      argv[i + 1] = words.get(i);
    }
    return new Getopt(argv, ":" + optionString, null, null);
  }

  /** One option of {@link #nextOption()}: its letter and argument (for an error, the offending letter). */
  record Option(char letter, String argument) {}

  /**
   * The next option as a letter and argument, null at the end: {@link #UNKNOWN} or
   * {@link #MISSING_ARGUMENT} with the offending letter as the argument, for a silent parser.
   */
  Option nextOption() {
    int value = next();
    if (value == END) {
      return null;
    }
    if (value == UNKNOWN || value == MISSING_ARGUMENT) {
      return new Option((char) value, String.valueOf((char) optopt));
    }
    return new Option((char) value, optarg);
  }

  /** The next option's value (its letter, or a long option's value), or {@link #END}. */
  int next() {
    optarg = null;
    if (nextChars == null || nextChars.isEmpty()) {
      if (lastOperand > optind) {
        lastOperand = optind;
      }
      if (firstOperand > optind) {
        firstOperand = optind;
      }
      if (!requireOrder) {
        if (firstOperand != lastOperand && lastOperand != optind) {
          exchange();
        } else if (lastOperand != optind) {
          firstOperand = optind;
        }
        while (optind < argv.length && isOperand(argv[optind])) {
          optind++;
        }
        lastOperand = optind;
      }
      if (optind != argv.length && argv[optind].equals("--")) {
        optind++;
        if (firstOperand != lastOperand && lastOperand != optind) {
          exchange();
        } else if (firstOperand == lastOperand) {
          firstOperand = optind;
        }
        lastOperand = argv.length;
        optind = argv.length;
      }
      if (optind == argv.length) {
        if (firstOperand != lastOperand) {
          optind = firstOperand;
        }
        return END;
      }
      if (isOperand(argv[optind])) {
        // only in require-order mode: the first operand ends the options
        return END;
      }
      if (longOptions != null && argv[optind].startsWith("--")) {
        nextChars = argv[optind].substring(2);
        return longOption();
      }
      nextChars = argv[optind].substring(1);
    }
    return shortOption();
  }

  /** The argument of the option next() returned, or null. */
  String optarg() {
    return optarg;
  }

  /** The index of the next word to read; after {@link #END}, of the first operand. */
  int optind() {
    return optind;
  }

  /** The option letter (or long option value) of the last error; 0 for an unknown long option. */
  int optopt() {
    return optopt;
  }

  /** The word at {@code index} of the permuted argv. */
  String word(int index) {
    return argv[index];
  }

  /** argv[optind - 1], the word QEMU's tools name in their messages about an option. */
  String lastWord() {
    return argv[optind - 1];
  }

  /** The operands, in order, once next() returned {@link #END}. */
  List<String> operands() {
    return new ArrayList<>(Arrays.asList(argv).subList(optind, argv.length));
  }

  private static boolean isOperand(String word) {
    return !word.startsWith("-") || word.length() == 1;
  }

  /** Moves the options read since the operands in front of them, as glibc's exchange(). */
  private void exchange() {
    List<String> operandWords = new ArrayList<>(Arrays.asList(argv).subList(firstOperand, lastOperand));
    List<String> optionWords = new ArrayList<>(Arrays.asList(argv).subList(lastOperand, optind));
    int at = firstOperand;
    for (String word : optionWords) {
      argv[at++] = word;
    }
    for (String word : operandWords) {
      argv[at++] = word;
    }
    firstOperand += optind - lastOperand;
    lastOperand = optind;
  }

  private int shortOption() {
    char letter = nextChars.charAt(0);
    nextChars = nextChars.substring(1);
    if (nextChars.isEmpty()) {
      optind++;
    }
    int at = letter == ':' || letter == ';' ? -1 : shortOptions.indexOf(letter);
    if (at < 0) {
      error("invalid option -- '" + letter + "'");
      optopt = letter;
      return UNKNOWN;
    }
    boolean takesArgument = at + 1 < shortOptions.length() && shortOptions.charAt(at + 1) == ':';
    if (!takesArgument) {
      return letter;
    }
    boolean optional = at + 2 < shortOptions.length() && shortOptions.charAt(at + 2) == ':';
    if (optional) {
      if (!nextChars.isEmpty()) {
        optarg = nextChars;
        optind++;
      }
    } else if (!nextChars.isEmpty()) {
      optarg = nextChars;
      optind++;
    } else if (optind == argv.length) {
      error("option requires an argument -- '" + letter + "'");
      optopt = letter;
      nextChars = null;
      return colonMode ? MISSING_ARGUMENT : UNKNOWN;
    } else {
      optarg = argv[optind++];
    }
    nextChars = null;
    return letter;
  }

  private int longOption() {
    String word = nextChars;
    int equals = word.indexOf('=');
    String name = equals < 0 ? word : word.substring(0, equals);
    LongOption found = null;
    for (LongOption option : longOptions) {
      if (option.name().equals(name)) {
        found = option;
        break;
      }
    }
    if (found == null) {
      // the first prefix match, and every later one that would act differently (glibc's ambig_set)
      List<LongOption> candidates = new ArrayList<>();
      for (LongOption option : longOptions) {
        if (option.name().startsWith(name) && (candidates.isEmpty()
            || candidates.getFirst().hasArgument() != option.hasArgument()
            || candidates.getFirst().value() != option.value())) {
          candidates.add(option);
        }
      }
      if (candidates.size() > 1) {
        StringBuilder message = new StringBuilder("option '--" + nextChars + "' is ambiguous; possibilities:");
        for (LongOption candidate : candidates) {
          message.append(" '--").append(candidate.name()).append('\'');
        }
        error(message.toString());
        nextChars = null;
        optind++;
        optopt = 0;
        return UNKNOWN;
      }
      found = candidates.isEmpty() ? null : candidates.getFirst();
    }
    if (found == null) {
      error("unrecognized option '--" + nextChars + "'");
      nextChars = null;
      optind++;
      optopt = 0;
      return UNKNOWN;
    }
    optind++;
    nextChars = null;
    if (equals >= 0) {
      if (found.hasArgument() == HasArgument.NO) {
        error("option '--" + found.name() + "' doesn't allow an argument");
        optopt = found.value();
        return UNKNOWN;
      }
      optarg = word.substring(equals + 1);
    } else if (found.hasArgument() == HasArgument.REQUIRED) {
      if (optind < argv.length) {
        optarg = argv[optind++];
      } else {
        error("option '--" + found.name() + "' requires an argument");
        optopt = found.value();
        return colonMode ? MISSING_ARGUMENT : UNKNOWN;
      }
    }
    return found.value();
  }

  private void error(String message) {
    if (printErrors && err != null) {
      err.println(argv[0] + ": " + message);
      err.flush();
    }
  }
}
