package io.qcow4j.cli;

import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.ops.ImageCreate;
import io.qcow4j.options.FormatNames;
import io.qcow4j.options.OptionHelp;
import io.qcow4j.options.OptionSyntax;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * qemu-img create: a new raw or qcow2 image, with qemu-img's checks in its order, its "Formatting"
 * line on stdout and its messages (prefixed by the file name) for what it refuses.
 */
@Command(
    name = "create",
    mixinStandardHelpOptions = true,
    versionProvider = PicocliCommands.Version.class,
    description = "Create a new disk image, like qemu-img create (-o help lists the options).")
final class CreateCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = "-f", paramLabel = "FMT", defaultValue = "raw", description = "Image format: qcow2 or raw (default: ${DEFAULT-VALUE}).")
  String format;

  @Option(names = "-o", paramLabel = "OPTIONS", description = "Creation options, key=value,... (-o help lists them); may repeat.")
  List<String> optionLists = new ArrayList<>();

  @Option(names = "-b", paramLabel = "BACKING", description = "Backing file (needs -F).")
  String backingFile;

  @Option(names = "-F", paramLabel = "BACKING_FMT", description = "Format of the backing file (raw, qcow2).")
  String backingFormat;

  @Option(names = "-u", description = "Do not open the backing file (a size must then be given).")
  boolean unsafe;

  @Option(names = {"-q", "--quiet"}, description = "Quiet mode: no \"Formatting\" line.")
  boolean quiet;

  @Mixin ObjectOption objects;

  @Parameters(paramLabel = "FILE [SIZE]", arity = "0..*", description = "The new image and its size (k, M, G, T suffixes).")
  List<String> arguments = new ArrayList<>();

  @Override
  public Integer call() throws Exception {
    return QemuErrors.run(spec, this::createImage);
  }

  private int createImage() {
    // the secrets are checked as qemu-img defines them; no image qcow4j creates is encrypted
    if (ImageArguments.secrets(objects.definitions, spec.commandLine().getOut()) == null) {
      return 0;
    }
    String optionList = QemuOpts.accumulate(optionLists);
    String filename = arguments.isEmpty() ? null : arguments.getFirst();
    if (OptionSyntax.wantsHelp(optionList)) {
      spec.commandLine().getOut().print(OptionHelp.create(imageFormat(null), filename));
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
          !unsafe);
      if (!quiet) {
        spec.commandLine().getOut().println(plan.formattingLine());
        spec.commandLine().getOut().flush();
      }
      plan.create();
    } catch (InvalidOptionException e) {
      throw new CommandFailure(filename + ": " + e.getMessage(), 1, e);
    } catch (ImageCreate.BackingOpenException e) {
      throw new CommandFailure(filename + ": Could not open '" + e.fullName() + "': "
          + Failures.reason(e.getCause(), e.fullName()) + "\nCould not open backing image.", 1, e);
    } catch (IOException | RuntimeException e) {
      throw new CommandFailure(filename + ": " + Failures.reason(e, filename), 1, e);
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
