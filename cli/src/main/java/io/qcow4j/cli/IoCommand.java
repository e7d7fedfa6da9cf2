package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * qemu-io: runs each -c command on the image in order, every one even after a failure, and exits 1
 * when any failed. Opens the image read-write unless -r, like qemu-io.
 */
final class IoCommand implements Callable<Integer> {
  private final PrintWriter out;
  private final PrintWriter err;
  String format;
  boolean readOnly;
  final List<String> commands = new ArrayList<>();
  boolean forceShare;
  boolean imageOpts;
  final List<String> objects = new ArrayList<>();
  String file;

  private IoCommand(Invocation invocation) {
    this.out = invocation.out();
    this.err = invocation.err();
  }

  /**
   * Parses the words as qemu-io's main does (argv[0] the program's name), then runs the commands;
   * the exit status. Of its options, the cache, AIO and discard modes are checked and, like -n,
   * -k and -m, change nothing (qcow4j goes through the page cache and passes discards on);
   * -s and -C are refused.
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
        case 's' -> {
          return invocation.error("-s (snapshot mode) is not supported");
        }
        case 'C' -> {
          return invocation.error("-C (copy-on-read) is not supported");
        }
        case 'n', 'm', 'k', 'T' -> { }
        case 'd' -> {
          if (!Set.of("ignore", "off", "unmap", "on").contains(getopt.optarg())) {
            return invocation.error("Invalid discard option: " + getopt.optarg());
          }
          if (Set.of("ignore", "off").contains(getopt.optarg())) {
            return invocation.error("-d " + getopt.optarg() + " is not supported: qcow4j passes discards on");
          }
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
          if (!CacheMode.valid(getopt.optarg())) {
            return invocation.error("Invalid cache option: " + getopt.optarg());
          }
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
    command.file = operands.isEmpty() ? null : operands.getFirst();
    return invocation.execute(command);
  }

  @Override
  public Integer call() {
    Secrets secrets = ImageArguments.secrets(objects, out);
    if (secrets == null) {
      return 0;
    }
    if (commands.isEmpty()) {
      throw new CommandFailure("io: give the commands with -c (the interactive prompt is not supported)", 1);
    }
    if (file == null) {
      // qemu-io without an image: every command but open finds no file (qcow4j has no open)
      for (int i = 0; i < commands.size(); i++) {
        out.println("no file open, try 'help open'");
      }
      return 1;
    }
    ImageSpec image = ImageArguments.spec(file, imageOpts, format, forceShare, ImageArguments.Tool.QEMU_IO, err);
    // qemu-io lets others do anything with the image meanwhile
    OpenOptions defaults = OpenOptions.readWriteDefaults().withReadOnly(readOnly)
        .withSharedPermissions(ImageArguments.SHARE_ALL);
    try (DiskFile disk = ImageArguments.open(image, defaults, secrets, err)) {
      QemuIoShell shell = new QemuIoShell(disk, out, err);
      boolean failed = false;
      for (String command : commands) {
        failed |= shell.execute(command) < 0;
      }
      return failed ? 1 : 0;
    } catch (IOException e) {
      throw new CommandFailure(file + ": " + Failures.reason(e, file), 1, e);
    }
  }
}
