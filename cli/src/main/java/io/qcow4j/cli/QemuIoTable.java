package io.qcow4j.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * qemu-io 7.2's command table (qemu-io.c and qemu-io-cmds.c): each command's name, short name,
 * argument counts, whether it runs without an open image, what it needs of the image, its
 * synopsis and its help, in the name order qemu-io keeps them (lookups and "help" go by it).
 */
final class QemuIoTable {
  /** Runs with or without an image, and even after "quit" of the table: help and quit (CMD_FLAG_GLOBAL). */
  static final int GLOBAL = 1;
  /** Runs without an open image (CMD_NOFILE_OK). */
  static final int NO_FILE_OK = 2;
  /** Needs write permission on the image (BLK_PERM_WRITE). */
  static final int NEEDS_WRITE = 4;

  /** One command: argMax -1 for no upper bound; altName and args null where qemu-io has none. */
  record Command(String name, String altName, int argMin, int argMax, int flags, String args, String oneline) {
    boolean has(int flag) {
      return (flags & flag) != 0;
    }
  }

  static final List<Command> COMMANDS = Stream.of(
      new Command("abort", null, 0, 0, NO_FILE_OK, null, "simulate a program crash using abort(3)"),
      new Command("aio_flush", null, 0, 0, 0, null, "completes all outstanding aio requests"),
      new Command("aio_read", null, 2, -1, 0, "[-Ciqv] [-P pattern] off len [len..]",
          "asynchronously reads a number of bytes"),
      new Command("aio_write", null, 2, -1, NEEDS_WRITE, "[-Cfiquz] [-P pattern] off len [len..]",
          "asynchronously writes a number of bytes"),
      new Command("alloc", "a", 1, 2, 0, "offset [count]", "checks if offset is allocated in the file"),
      new Command("break", null, 2, 2, 0, "event tag", "sets a breakpoint on event and tags the stopped request as tag"),
      new Command("close", "c", 0, 0, 0, null, "close the current open file"),
      new Command("discard", "d", 2, -1, NEEDS_WRITE, "[-Cq] off len", "discards a number of bytes at a specified offset"),
      new Command("flush", "f", 0, 0, 0, null, "flush all in-core file state to disk"),
      new Command("help", "?", 0, 1, GLOBAL, "[command]", "help for one or all commands"),
      new Command("info", "i", 0, 0, 0, null, "prints information about the current file"),
      new Command("length", "l", 0, 0, 0, null, "gets the length of the current file"),
      new Command("map", null, 0, 0, 0, "", "prints the allocated areas of a file"),
      new Command("open", "o", 1, -1, NO_FILE_OK, "[-rsCnkU] [-t cache] [-d discard] [-o options] [path]",
          "open the file specified by path"),
      new Command("quit", "q", -1, -1, GLOBAL, null, "exit the program"),
      new Command("read", "r", 2, -1, 0, "[-abCqv] [-P pattern [-s off] [-l len]] off len",
          "reads a number of bytes at a specified offset"),
      new Command("readv", null, 2, -1, 0, "[-Cqv] [-P pattern] off len [len..]",
          "reads a number of bytes at a specified offset"),
      new Command("remove_break", null, 1, 1, 0, "tag", "remove a breakpoint by tag"),
      new Command("reopen", null, 0, -1, 0, "[(-r|-w)] [-c cache] [-o options]", "reopens an image with new options"),
      new Command("resume", null, 1, 1, 0, "tag", "resumes the request tagged as tag"),
      new Command("sigraise", null, 1, 1, NO_FILE_OK, "signal", "raises a signal"),
      new Command("sleep", null, 1, 1, NO_FILE_OK, null, "waits for the given value in milliseconds"),
      new Command("truncate", "t", 1, 3, NEEDS_WRITE, "[-m prealloc_mode] off",
          "truncates the current file at the given offset"),
      new Command("wait_break", null, 1, 1, 0, "tag", "waits for the suspension of a request"),
      new Command("write", "w", 2, -1, NEEDS_WRITE, "[-bcCfnquz] [-P pattern | -s source_file] off len",
          "writes a number of bytes at a specified offset"),
      new Command("writev", null, 2, -1, NEEDS_WRITE, "[-Cfq] [-P pattern] off len [len..]",
          "writes a number of bytes at a specified offset"))
      .sorted(Comparator.comparing(Command::name)).toList();

  private static final Map<String, String> HELP = loadHelp();

  private QemuIoTable() {}

  /** The command a word names, by name or short name, the first in name order; null when none. */
  static Command find(String word) {
    for (Command command : COMMANDS) {
      if (command.name().equals(word) || word.equals(command.altName())) {
        return command;
      }
    }
    return null;
  }

  /** The command's one-line usage, as a bad option prints it: "name args -- oneline". */
  static String usage(Command command) {
    return command.name() + " " + command.args() + " -- " + command.oneline();
  }

  /** "help": every command's line, then the pointer to the extended help. */
  static void printAll(PrintWriter out) {
    for (Command command : COMMANDS) {
      printLine(out, command.name(), command);
    }
    out.print("\nUse 'help commandname' for extended help.\n");
  }

  /** "help WORD": the command's line under the word typed, then its extended help. */
  static void printOne(PrintWriter out, String word, Command command) {
    printLine(out, word, command);
    String help = HELP.get(command.name());
    if (help != null) {
      out.print(help);
    }
  }

  private static void printLine(PrintWriter out, String word, Command command) {
    out.print(word + " ");
    if (command.args() != null) {
      out.print(command.args() + " ");
    }
    out.print("-- " + command.oneline() + "\n");
  }

  /** The extended help texts: sections of qemu-io-command-help.txt, each after a line "@@ NAME". */
  private static Map<String, String> loadHelp() {
    try (InputStream in = QemuIoTable.class.getResourceAsStream("qemu-io-command-help.txt")) {
      if (in == null) {
        throw new IllegalStateException("qemu-io-command-help.txt is missing from the jar");
      }
      Map<String, String> help = new HashMap<>();
      String name = null;
      StringBuilder text = new StringBuilder();
      for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n", -1)) {
        if (line.startsWith("@@ ")) {
          if (name != null) {
            help.put(name, text.toString());
          }
          name = line.substring(3);
          text.setLength(0);
        } else if (name != null) {
          text.append(line).append('\n');
        }
      }
      if (name != null) {
        // the file's last line ends with a newline, which split leaves as an empty last piece
        help.put(name, text.substring(0, text.length() - 1));
      }
      return Map.copyOf(help);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
