package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.ops.CompareException;
import io.qcow4j.ops.CompareResult;
import io.qcow4j.ops.ImageCompare;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * qemu-img compare: exit 0 when the guest contents are identical, 1 when they differ, 2 when an
 * image cannot be opened (or the arguments are wrong), 3 when a block status query fails, 4 when a
 * read fails, as qemu-img documents.
 */
@Command(
    name = "compare",
    mixinStandardHelpOptions = true,
    versionProvider = PicocliCommands.Version.class,
    description = "Compare the guest content of two images, like qemu-img compare (exit 0 identical, 1 different, 2..4 errors).")
final class CompareCommand implements Callable<Integer> {
  static final int IDENTICAL = 0;
  static final int DIFFERENT = 1;
  static final int ERROR = 2;
  static final int BLOCK_STATUS_ERROR = 3;
  static final int READ_ERROR = 4;

  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = {"-f", "--a-format"}, paramLabel = "FMT", description = "Format of the first image; probed when absent.")
  String firstFormat;

  @Option(names = {"-F", "--b-format"}, paramLabel = "FMT", description = "Format of the second image; probed when absent.")
  String secondFormat;

  @Option(names = {"-s", "--strict"}, description = "Strict mode: images of different sizes or allocation differ.")
  boolean strict;

  @Option(names = {"-q", "--quiet"}, description = "Quiet mode: only the exit status (and errors).")
  boolean quiet;

  @Option(names = {"-p", "--progress"}, description = "Show progress on stderr.")
  boolean progress;

  @Option(names = {"-U", "--force-share"}, description = "Open with force-share: read while others may write.")
  boolean forceShare;

  @Mixin ImageOptsOption imageOpts;
  @Mixin ObjectOption objects;

  @Parameters(index = "0", paramLabel = "FILE1", description = "The first image.")
  String first;

  @Parameters(index = "1", paramLabel = "FILE2", description = "The second image.")
  String second;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    Secrets secrets = ImageArguments.secrets(objects.definitions, out);
    if (secrets == null) {
      return IDENTICAL;
    }
    try (DiskFile firstDisk = open(first, firstFormat, secrets);
        DiskFile secondDisk = open(second, secondFormat, secrets)) {
      ProgressPrinter printer = new ProgressPrinter(spec.commandLine().getErr(), progress && !quiet);
      printer.start();
      CompareResult result;
      try {
        result = ImageCompare.compare(firstDisk, secondDisk, strict, printer::update);
      } finally {
        printer.finish();
      }
      if (!quiet) {
        if (result.sizeMismatch()) {
          out.println("Warning: Image size mismatch!");
        }
        out.println(switch (result.outcome()) {
          case IDENTICAL -> "Images are identical.";
          case CONTENT_MISMATCH -> "Content mismatch at offset " + result.offset() + "!";
          case STRICT_SIZE_MISMATCH -> "Strict mode: Image size mismatch!";
          case STRICT_STATUS_MISMATCH -> "Strict mode: Offset " + result.offset() + " block status mismatch!";
        });
        out.flush();
      }
      return result.identical() ? IDENTICAL : DIFFERENT;
    } catch (CompareException e) {
      String name = e.image() == 1 ? first : second;
      if (e.stage() == CompareException.Stage.BLOCK_STATUS) {
        throw new CommandFailure("Sector allocation test failed for " + name + " at offset " + e.offset() + ": "
            + Failures.reason(e.getCause(), name), BLOCK_STATUS_ERROR, e);
      }
      throw new CommandFailure("Error while reading offset " + e.offset() + " of " + name + ": "
          + Failures.reason(e.getCause(), name), READ_ERROR, e);
    } catch (CommandFailure e) {
      throw e;
    } catch (IOException e) {
      throw new CommandFailure("Can't get size of " + first + " or " + second + ": " + Failures.reason(e, null), READ_ERROR, e);
    }
  }

  /** Opens one image read-only, sharing reads and unchanged writes with others; failures exit 2. */
  private DiskFile open(String name, String format, Secrets secrets) {
    try {
      ImageSpec image = ImageArguments.spec(name, imageOpts.enabled, format, forceShare, ImageArguments.Tool.QEMU_IMG,
        spec.commandLine().getErr());
      return ImageArguments.open(image, OpenOptions.readOnlyDefaults(), secrets, spec.commandLine().getErr());
    } catch (CommandFailure e) {
      throw new CommandFailure(e.getMessage(), ERROR, e);
    }
  }
}
