package io.qcow4j.cli;

import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.ops.ImageCreate;
import io.qcow4j.spec.Secrets;
import io.qcow4j.options.FormatNames;
import io.qcow4j.options.OptionHelp;
import io.qcow4j.options.OptionSyntax;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * qemu-img create: a new raw or qcow2 image, with qemu-img's checks in its order, its "Formatting"
 * line on stdout and its messages (prefixed by the file name) for what it refuses.
 */
final class CreateCommand implements Callable<Integer> {
  private final PrintWriter out;
  private final PrintWriter err;
  String format = "raw";
  List<String> optionLists = new ArrayList<>();
  String backingFile;
  String backingFormat;
  boolean unsafe;
  boolean quiet;
  final List<String> objects = new ArrayList<>();
  List<String> arguments = new ArrayList<>();

  private CreateCommand(Invocation invocation) {
    this.out = invocation.out();
    this.err = invocation.err();
  }

  /** Parses the command's words as qemu-img's img_create does, then runs it; the exit status. */
  static int main(Invocation invocation) {
    CreateCommand command = new CreateCommand(invocation);
    Getopt getopt = invocation.getopt(":F:b:f:ho:qu", List.of(
        Getopt.LongOption.flag("help", 'h'),
        Getopt.LongOption.withArgument("object", Invocation.OBJECT)));
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      switch (option) {
        case 'h' -> {
          return invocation.help();
        }
        case 'F' -> command.backingFormat = getopt.optarg();
        case 'b' -> command.backingFile = getopt.optarg();
        case 'f' -> command.format = getopt.optarg();
        case 'o' -> {
          command.optionLists.add(getopt.optarg());
          if (!invocation.valid(() -> QemuOpts.accumulate(command.optionLists))) {
            return 1;
          }
        }
        case 'q' -> command.quiet = true;
        case 'u' -> command.unsafe = true;
        case Invocation.OBJECT -> {
          if (!invocation.defineObject(command.objects, getopt.optarg())) {
            return invocation.objectStatus(1);
          }
        }
        default -> {
          if (!invocation.commonOption(getopt, option)) {
            return Main.USAGE_ERROR;
          }
        }
      }
    }
    command.arguments = getopt.operands();
    return invocation.executeQemuStyle(command);
  }

  @Override
  public Integer call() throws Exception {
    return createImage();
  }

  private int createImage() {
    Secrets secrets = ImageArguments.secrets(objects, out);
    if (secrets == null) {
      return 0;
    }
    String optionList = QemuOpts.accumulate(optionLists);
    String filename = arguments.isEmpty() ? null : arguments.getFirst();
    if (OptionSyntax.wantsHelp(optionList)) {
      out.print(OptionHelp.create(imageFormat(null), filename));
      return 0;
    }
    if (filename == null) {
      throw QemuErrors.usage("Expecting image file name");
    }
    long size = -1;
    if (arguments.size() > 1) {
      size = imageSize(arguments.get(1));
    }
    if (arguments.size() > 2) {
      throw QemuErrors.usage("Unexpected argument: " + arguments.get(2));
    }
    ImageFormat imageFormat = imageFormat(filename);
    try {
      ImageCreate.Plan plan = ImageCreate.plan(filename, imageFormat, optionList, size, backingFile, backingFormat,
          !unsafe, secrets);
      if (!quiet) {
        out.println(plan.formattingLine());
        out.flush();
      }
      plan.create();
    } catch (InvalidOptionException e) {
      throw new CommandFailure(filename + ": " + e.getMessage(), 1, e);
    } catch (ImageCreate.BackingOpenException e) {
      throw new CommandFailure(filename + ": Could not open '" + e.fullName() + "': "
          + Failures.reason(e.getCause(), e.fullName()) + "\nCould not open backing image.", 1, e);
    } catch (IOException | RuntimeException e) {
      String reason = Failures.reason(e, filename);
      if (reason.equals("File too large")) {
        // bdrv_img_create's words for any EFBIG of the driver (a raw file past the file system's
        // limit...), with the hint where the format has a cluster_size option
        reason = "The image size is too large for file format '" + format + "'"
            + (imageFormat == ImageFormat.QCOW2 || imageFormat == ImageFormat.QED
                ? " (try using a larger cluster size)" : "");
      }
      throw new CommandFailure(filename + ": " + reason, 1, e);
    }
    return 0;
  }

  private ImageFormat imageFormat(String filename) {
    try {
      return FormatNames.outputFormat(format);
    } catch (InvalidOptionException e) {
      throw new CommandFailure(filename != null ? filename + ": " + e.getMessage() : e.getMessage(), 1, e);
    }
  }

  /** qemu-img's cvtnum("image size"): 0 up to 2^63 - 1, with its two messages. */
  static long imageSize(String text) {
    try {
      return QemuNumbers.parseSize(text);
    } catch (QemuNumbers.SizeFormatException e) {
      if (e.tooLarge()) {
        throw new CommandFailure("Invalid image size specified. Must be between 0 and 9223372036854775807.", 1, e);
      }
      throw new CommandFailure("Invalid image size specified. You may use k, M, G, T, P or E suffixes for\n"
          + QemuErrors.PREFIX + "kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.", 1, e);
    }
  }
}
