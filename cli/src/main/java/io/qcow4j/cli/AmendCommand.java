package io.qcow4j.cli;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.AmendOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.options.AmendOptionsReader;
import io.qcow4j.options.OptionHelp;
import io.qcow4j.options.OptionSyntax;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * qemu-img amend: change the compat level, lazy refcounts, refcount width or size of a qcow2 image,
 * with img_amend's order of checks (-o help before or after the image is opened) and its messages.
 */
@Command(
    name = "amend",
    mixinStandardHelpOptions = true,
    versionProvider = PicocliCommands.Version.class,
    description = "Amend the image format specific options of a qcow2 image, like qemu-img amend.")
final class AmendCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = "-f", paramLabel = "FMT", description = "Image format (qcow2); probed when absent.")
  String format;

  @Option(names = "-o", paramLabel = "OPTIONS", description = "Comma-separated options to change (-o help lists them).")
  List<String> options = new ArrayList<>();

  @Option(names = {"-p", "--progress"}, description = "Show progress (accepted; amend here is quick).")
  boolean progress;

  @Option(names = {"-q", "--quiet"}, description = "Quiet mode.")
  boolean quiet;

  @Option(names = "--force", description = "Accepted for compatibility with qemu-img.")
  boolean force;

  @Mixin ImageOptsOption imageOpts;
  @Mixin ObjectOption objects;

  @Parameters(paramLabel = "FILE", arity = "0..*", description = "The image to amend.")
  List<String> files = new ArrayList<>();

  @Override
  public Integer call() throws Exception {
    return QemuErrors.run(spec, this::amend);
  }

  private int amend() {
    PrintWriter out = spec.commandLine().getOut();
    Secrets secrets = ImageArguments.secrets(objects.definitions, out);
    if (secrets == null) {
      return 0;
    }
    String optionList = QemuOpts.accumulate(options);
    if (optionList == null) {
      throw QemuErrors.usage("Must specify options (-o)");
    }
    boolean help = OptionSyntax.wantsHelp(optionList);
    if (format != null && help) {
      out.print(amendHelp(() -> OptionHelp.amend(format)));
      out.flush();
      return 0;
    }
    if (files.size() != 1) {
      throw new CommandFailure("Expecting one image file name", 1);
    }
    String file = files.getFirst();
    ImageSpec image = ImageArguments.spec(file, imageOpts.enabled, format, false, ImageArguments.Tool.QEMU_IMG,
        spec.commandLine().getErr());
    ImageFormat imageFormat;
    try {
      imageFormat = image.format() != null ? image.format() : DiskImages.probe(image.path());
    } catch (IOException e) {
      throw ImageArguments.couldNotOpen(image, e);
    }
    if (help) {
      out.print(amendHelp(() -> OptionHelp.amend(imageFormat)));
      out.flush();
      return 0;
    }
    if (image.format() == null && imageFormat == ImageFormat.RAW) {
      Images.warnProbedRaw(image.filename(), spec.commandLine().getErr());
    }
    if (imageFormat != ImageFormat.QCOW2) {
      throw new CommandFailure("Format driver '" + imageFormat.id() + "' does not support option amendment", 1);
    }
    AmendOptions amend;
    try {
      amend = AmendOptionsReader.read(optionList);
    } catch (InvalidOptionException e) {
      throw new CommandFailure(e.getMessage(), 1, e);
    }
    try (DiskFile disk = ImageArguments.open(image, OpenOptions.readWriteDefaults().withFormat(ImageFormat.QCOW2),
        secrets, spec.commandLine().getErr())) {
      disk.amend(amend);
    } catch (InvalidOptionException e) {
      throw new CommandFailure(e.getMessage(), 1, e);
    } catch (IOException e) {
      throw new CommandFailure(Failures.reason(e, file), 1, e);
    }
    if (progress && !quiet) {
      spec.commandLine().getErr().println("    (100.00/100%)");
    }
    return 0;
  }

  /** A help text that may be refused. */
  private interface HelpText {
    String get() throws InvalidOptionException;
  }

  private static String amendHelp(HelpText text) {
    try {
      return text.get();
    } catch (InvalidOptionException e) {
      throw new CommandFailure(e.getMessage(), 1, e);
    }
  }
}
