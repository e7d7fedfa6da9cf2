package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.Preallocation;
import io.qcow4j.ops.ImageResize;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;
import picocli.CommandLine.Model.CommandSpec;

/**
 * qemu-img resize: the size is always the last argument (so "-1G" is a size, not an option), with
 * a leading + or - for a relative change; shrinking needs --shrink. The resize itself is
 * {@link ImageResize#resize}.
 */
@Command(
    name = "resize",
    mixinStandardHelpOptions = true,
    versionProvider = PicocliCommands.Version.class,
    description = "Change the virtual size of an image, like qemu-img resize (FILE [+|-]SIZE).")
final class ResizeCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = {"-f", "--format"}, paramLabel = "FMT", description = "Image format (raw, qcow2); probed when absent.")
  String format;

  @Option(names = "--shrink", description = "Allow the image to become smaller.")
  boolean shrink;

  @Option(names = "--preallocation", paramLabel = "MODE", description = "off, falloc or full: allocate the new part (grow only).")
  String preallocation;

  @Option(names = {"-q", "--quiet"}, description = "Quiet mode.")
  boolean quiet;

  @Mixin ImageOptsOption imageOpts;
  @Mixin ObjectOption objects;

  @Parameters(paramLabel = "FILE [+|-]SIZE", arity = "0..*", description = "The image, then its new size or a change of it.")
  List<String> arguments = new ArrayList<>();

  /** Words picocli took for unknown options: a negative size among them. */
  @Unmatched List<String> unmatched = new ArrayList<>();

  @Override
  public Integer call() throws Exception {
    return QemuErrors.run(spec, this::resize);
  }

  private int resize() {
    Secrets secrets = ImageArguments.secrets(objects.definitions, spec.commandLine().getOut());
    if (secrets == null) {
      return 0;
    }
    List<String> original = spec.commandLine().getParseResult().originalArgs();
    int commandIndex = original.indexOf(spec.name());
    List<String> words = original.subList(commandIndex + 1, original.size());
    if (words.size() < 2) {
      throw QemuErrors.usage("Not enough arguments");
    }
    String sizeText = words.getLast();
    List<String> rest = new ArrayList<>(arguments);
    List<String> unknown = new ArrayList<>(unmatched);
    if (!rest.isEmpty() && rest.getLast().equals(sizeText)) {
      rest.removeLast();
    } else {
      unknown.remove(sizeText);
    }
    if (!unknown.isEmpty()) {
      throw QemuErrors.usage("unrecognized option '" + unknown.getFirst() + "'");
    }
    if (rest.size() != 1) {
      throw QemuErrors.usage("Expecting image file name and size");
    }
    String file = rest.getFirst();
    int relative = 0;
    String magnitude = sizeText;
    if (sizeText.startsWith("+")) {
      relative = 1;
      magnitude = sizeText.substring(1);
    } else if (sizeText.startsWith("-")) {
      relative = -1;
      magnitude = sizeText.substring(1);
    }
    ImageResize.SizeChange change = ImageResize.SizeChange.by(relative, parseSize(magnitude));
    Preallocation mode = preallocationMode();
    ImageSpec image = ImageArguments.spec(file, imageOpts.enabled, format, false, ImageArguments.Tool.QEMU_IMG,
        spec.commandLine().getErr());
    try (DiskFile disk = ImageArguments.open(image, OpenOptions.readWriteDefaults(), secrets,
        spec.commandLine().getErr())) {
      ImageResize.resize(disk, change, shrink, mode);
    } catch (ImageResize.ResizeException e) {
      String warning = e.refusal() == ImageResize.ResizeException.Refusal.SHRINK_NOT_ALLOWED ? "\n" + QemuErrors.PREFIX
          + "warning: Shrinking an image will delete all data beyond the shrunken image's end. Before performing "
          + "such an operation, make sure there is no important data there." : "";
      throw new CommandFailure(e.getMessage() + warning, 1, e);
    } catch (CommandFailure e) {
      throw e;
    } catch (IOException | RuntimeException e) {
      throw new CommandFailure(Failures.reason(e, file), 1, e);
    }
    if (!quiet) {
      PrintWriter out = spec.commandLine().getOut();
      out.println("Image resized.");
      out.flush();
    }
    return 0;
  }

  /** --preallocation as qemu-img reads it (off when absent); metadata is refused before the image is opened. */
  private Preallocation preallocationMode() {
    if (preallocation == null) {
      return Preallocation.OFF;
    }
    Preallocation mode = Preallocation.fromName(preallocation);
    if (mode == null) {
      throw new CommandFailure("Invalid preallocation mode '" + preallocation + "'", 1);
    }
    try {
      ImageResize.checkPreallocation(mode);
    } catch (ImageResize.ResizeException e) {
      throw new CommandFailure(e.getMessage(), 1, e);
    }
    return mode;
  }

  /** The size as qemu_opt_set parses a "size" option, with its messages. */
  private static long parseSize(String text) {
    try {
      return QemuNumbers.parseSize(text);
    } catch (QemuNumbers.SizeFormatException e) {
      if (e.tooLarge()) {
        throw new CommandFailure("Value '" + text + "' is out of range for parameter 'size'", 1, e);
      }
      throw new CommandFailure("Parameter 'size' expects a non-negative number below 2^64\n"
          + "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.", 1, e);
    }
  }
}
