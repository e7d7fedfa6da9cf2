package io.qcow4j.cli;

import io.qcow4j.spec.Secrets;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * qemu-io: opens the image given (if any), then runs each -c command in order, every one even
 * after a failure, until "quit"; without -c it reads the commands from standard input after its
 * "qemu-io> " prompt. Exits 1 when a command failed, as qemu-io does.
 */
final class IoCommand implements Callable<Integer> {
  /** qemu-io reads standard input with fgets into 1024 bytes: a line of up to 1023 characters. */
  private static final int FGETS_CHARS = 1023;
  private final PrintWriter out;
  private final PrintWriter err;
  private final InputStream in;
  private final String prompt;
  String format;
  boolean readOnly;
  boolean snapshot;
  boolean unmap = true;
  boolean copyOnRead;
  CacheMode.Setting cache = CacheMode.Setting.WRITETHROUGH;
  final List<String> commands = new ArrayList<>();
  boolean forceShare;
  boolean imageOpts;
  final List<String> objects = new ArrayList<>();
  String file;

  private IoCommand(Invocation invocation) {
    this.out = invocation.out();
    this.err = invocation.err();
    this.in = invocation.in();
    this.prompt = invocation.program().toolName() + "> ";
  }

  /**
   * Parses the words as qemu-io's main does (argv[0] the program's name), then runs the commands;
   * the exit status. Of its options, the cache mode sets when writes are made durable (see
   * {@link QemuIoSession}), the discard mode whether discards do anything; the AIO mode is
   * checked and, like -k and -m, changes nothing.
   */
  static int main(Invocation invocation) {
    IoCommand command = new IoCommand(invocation);
    String usageName = invocation.program() == Program.QEMU_IO ? Program.QEMU_IO.toolName() : "qcow4j io";
    Getopt getopt = invocation.getopt("hVc:d:f:rsnCmki:t:T:U", List.of(
        Getopt.LongOption.flag("help", 'h'),
        Getopt.LongOption.flag("version", 'V'),
        Getopt.LongOption.withArgument("cmd", 'c'),
        Getopt.LongOption.withArgument("format", 'f'),
        Getopt.LongOption.flag("read-only", 'r'),
        Getopt.LongOption.flag("snapshot", 's'),
        Getopt.LongOption.flag("nocache", 'n'),
        Getopt.LongOption.flag("copy-on-read", 'C'),
        Getopt.LongOption.flag("misalign", 'm'),
        Getopt.LongOption.flag("native-aio", 'k'),
        Getopt.LongOption.withArgument("aio", 'i'),
        Getopt.LongOption.withArgument("discard", 'd'),
        Getopt.LongOption.withArgument("cache", 't'),
        Getopt.LongOption.withArgument("trace", 'T'),
        Getopt.LongOption.withArgument("object", Invocation.OBJECT),
        Getopt.LongOption.flag("image-opts", Invocation.IMAGE_OPTS),
        Getopt.LongOption.flag("force-share", 'U')));
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      switch (option) {
        case 's' -> command.snapshot = true;
        case 'C' -> command.copyOnRead = true;
        case 'n' -> command.cache = new CacheMode.Setting(true, command.cache.noFlush(), false);
        case 'm', 'k', 'T' -> { }
        case 'd' -> {
          if (!Set.of("ignore", "off", "unmap", "on").contains(getopt.optarg())) {
            return invocation.error("Invalid discard option: " + getopt.optarg());
          }
          command.unmap = Set.of("unmap", "on").contains(getopt.optarg());
        }
        case 'f' -> command.format = getopt.optarg();
        case 'c' -> command.commands.add(getopt.optarg());
        case 'r' -> command.readOnly = true;
        case 'i' -> {
          if (!Set.of("threads", "native", "io_uring").contains(getopt.optarg())) {
            return invocation.error("Invalid aio option: " + getopt.optarg());
          }
        }
        case 't' -> {
          CacheMode.Setting setting = CacheMode.setting(getopt.optarg());
          if (setting == null) {
            return invocation.error("Invalid cache option: " + getopt.optarg());
          }
          command.cache = setting;
        }
        case 'V' -> {
          invocation.out().print(invocation.program().versionText());
          return 0;
        }
        case 'h' -> {
          invocation.out().print(HelpText.qemuIo(usageName));
          return 0;
        }
        case 'U' -> command.forceShare = true;
        case Invocation.OBJECT -> {
          if (!invocation.defineObject(command.objects, getopt.optarg())) {
            return invocation.objectStatus(1);
          }
        }
        case Invocation.IMAGE_OPTS -> command.imageOpts = true;
        case Invocation.DEBUG -> invocation.commonOption(getopt, option);
        default -> {
          invocation.out().print(HelpText.qemuIo(usageName));
          return 1;
        }
      }
    }
    List<String> operands = getopt.operands();
    if (operands.size() > 1) {
      invocation.out().print(HelpText.qemuIo(usageName));
      return 1;
    }
    if (command.format != null && command.imageOpts) {
      return invocation.error("--image-opts and -f are mutually exclusive");
    }
    command.file = operands.isEmpty() ? null : operands.getFirst();
    return invocation.execute(command);
  }

  @Override
  public Integer call() throws IOException {
    Secrets secrets = ImageArguments.secrets(objects, out);
    if (secrets == null) {
      return 0;
    }
    // qemu-io's stdout is C's: line-buffered on a terminal, else written in whole blocks
    StdioBuffer buffer = Terminal.isTerminal(1) ? null : new StdioBuffer(out);
    // what aio requests on threads of their own print is held until qemu-io would print it
    PrintWriter stdout = new PrintWriter(QemuIoRequests.routing(buffer != null ? buffer : out));
    try {
      return run(secrets, stdout, buffer);
    } finally {
      stdout.flush();
      if (buffer != null) {
        buffer.drain();
      }
    }
  }

  /**
   * What qemu-io's fgets of 1024 bytes makes of a line: pieces of at most 1023 characters, each a
   * command, and an empty one for the new line when the pieces took the whole buffer.
   */
  static List<String> fgetsPieces(String line) {
    List<String> pieces = new ArrayList<>();
    for (int start = 0; start < line.length(); start += FGETS_CHARS) {
      pieces.add(line.substring(start, Math.min(line.length(), start + FGETS_CHARS)));
    }
    if (line.length() % FGETS_CHARS == 0) {
      // an empty line, or a line that filled the buffer: the new line comes as a line of its own
      pieces.add("");
    }
    return pieces;
  }

  private int run(Secrets secrets, PrintWriter stdout, StdioBuffer buffer) throws IOException {
    try (QemuIoSession session = new QemuIoSession(stdout, err, secrets, imageOpts)) {
      QemuIoSession.Flags flags = new QemuIoSession.Flags(readOnly, snapshot, forceShare, cache, unmap, copyOnRead);
      if (file != null) {
        int opened = imageOpts ? session.open(null, file, null, flags) : session.open(file, null, format, flags);
        if (opened != 0) {
          return 1;
        }
      }
      QemuIoShell shell = new QemuIoShell(session, stdout, err, () -> {
        stdout.flush();
        if (buffer != null) {
          try {
            buffer.drain();
          } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        }
      });
      boolean failed = false;
      if (!commands.isEmpty()) {
        for (int i = 0; i < commands.size() && !session.quitting(); i++) {
          failed |= shell.execute(commands.get(i)) < 0;
        }
        return failed ? 1 : 0;
      }
      BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
      boolean inputIsTerminal = in == System.in && Terminal.isTerminal(0);
      java.util.ArrayDeque<String> pending = new java.util.ArrayDeque<>();
      while (!session.quitting()) {
        // the prompt, then fflush(stdout): what came before it is out too
        stdout.print(prompt);
        stdout.flush();
        if (buffer != null) {
          buffer.drain();
        }
        if (pending.isEmpty()) {
          String line = lines.readLine();
          if (line == null) {
            if (inputIsTerminal) {
              // readline answers the end-of-file key with a new line
              stdout.println();
            }
            break;
          }
          pending.addAll(inputIsTerminal ? List.of(line) : fgetsPieces(line));
        }
        failed |= shell.execute(pending.removeFirst()) < 0;
      }
      return failed ? 1 : 0;
    }
  }
}
