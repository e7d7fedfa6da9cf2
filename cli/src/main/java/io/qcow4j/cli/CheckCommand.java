package io.qcow4j.cli;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.spec.FormatOptions;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.internal.spec.QDict;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * qemu-img check: the problems found go to stderr line by line as the check meets them, the summary
 * to stdout (or as JSON with qemu-img's field names); after a repair the fixed counts come first and
 * the image is checked again. Exit 0 clean, 2 corruptions, 3 leaks only, 1 when the check could not
 * run, 63 for a format without checks (raw).
 */
@Command(
    name = "check",
    mixinStandardHelpOptions = true,
    versionProvider = PicocliCommands.Version.class,
    description = "Check a qcow2 image for consistency and optionally repair it, like qemu-img check "
        + "(exit 0 clean, 2 corruptions, 3 leaks, 1 check failed, 63 no checks for the format).")
final class CheckCommand implements Callable<Integer> {
  /** qemu-img check's status for an image format that cannot be checked. */
  static final int NOT_SUPPORTED = 63;

  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = {"-f", "--format"}, paramLabel = "FMT", description = "Image format (raw, qcow2); probed when absent.")
  String format;

  @Option(names = "-r", paramLabel = "leaks|all", description = "Repair leaked clusters (leaks) or everything that can be repaired (all).")
  String repair;

  @Option(names = "--output", paramLabel = "human|json", description = "Output format (default: human).")
  String output;

  @Option(names = {"-q", "--quiet"}, description = "Quiet mode: no summary on stdout.")
  boolean quiet;

  @Option(names = {"-U", "--force-share"}, description = "Open with force-share: read while others may write.")
  boolean forceShare;

  @Mixin ImageOptsOption imageOpts;
  @Mixin ObjectOption objects;

  @Parameters(paramLabel = "FILE", arity = "0..*", description = "The image.")
  java.util.List<String> files = new java.util.ArrayList<>();

  @Override
  public Integer call() throws Exception {
    return QemuErrors.run(spec, this::check);
  }

  private int check() {
    Secrets secrets = ImageArguments.secrets(objects.definitions, spec.commandLine().getOut());
    if (secrets == null) {
      return 0;
    }
    CheckResult.Repair fix = CheckResult.Repair.NONE;
    if (repair != null) {
      fix = switch (repair) {
        case "leaks" -> CheckResult.Repair.LEAKS;
        case "all" -> CheckResult.Repair.ALL;
        default -> throw QemuErrors.usage("Unknown option value for -r (expecting 'leaks' or 'all'): " + repair);
      };
    }
    if (files.size() != 1) {
      throw QemuErrors.usage("Expecting one image file name");
    }
    String file = files.getFirst();
    OutputFormat outputFormat = OutputFormat.HUMAN;
    if (output != null) {
      outputFormat = switch (output) {
        case "json" -> OutputFormat.JSON;
        case "human" -> OutputFormat.HUMAN;
        default -> throw new CommandFailure("--output must be used with human or json as argument.", 1);
      };
    }
    ImageSpec image = ImageArguments.spec(file, imageOpts.enabled, format, forceShare, ImageArguments.Tool.QEMU_IMG,
        spec.commandLine().getErr());
    CheckResult result;
    try {
      OpenOptions options = image.openOptions(OpenOptions.readOnlyDefaults()
          .withSharedPermissions(ImageArguments.SHARE_ALL).withReadOnly(fix == CheckResult.Repair.NONE));
      ImageFormat imageFormat = options.format() != null ? options.format() : DiskImages.probe(image.path());
      if (imageFormat != ImageFormat.QCOW2) {
        // qemu-img opens the image (read-write with -r) before it finds that its format has no checks
        ImageArguments.open(image, options, secrets, spec.commandLine().getErr()).close();
        throw new CommandFailure("This image format does not support checks", NOT_SUPPORTED);
      }
      FormatOptions formatOptions = image.formatOptions(imageFormat);
      if (formatOptions.cacheBytes() != null) {
        options = options.withCacheBytes(formatOptions.cacheBytes());
      }
      result = QcowFile.check(image.path(), fix, options, formatOptions, secrets);
    } catch (IOException | RuntimeException e) {
      if (e instanceof CommandFailure failure) {
        throw failure;
      }
      throw ImageArguments.couldNotOpen(image, e);
    }
    PrintWriter err = spec.commandLine().getErr();
    for (String message : result.messages()) {
      err.println(message);
    }
    err.flush();
    if (result.checkErrors() > 0) {
      // The check could not finish (qemu-img prints no summary then).
      throw new CommandFailure("Check failed: Input/output error", 1);
    }
    PrintWriter out = spec.commandLine().getOut();
    if (!quiet) {
      if (outputFormat == OutputFormat.HUMAN) {
        out.print(human(result));
      } else {
        out.println(json(file, result).toPrettyJson());
      }
      out.flush();
    }
    if (result.checkErrors() > 0) {
      throw new CommandFailure("Check failed", 1);
    }
    return result.exitStatus();
  }

  /** qemu-img's summary: the repair report, then dump_human_image_check. */
  static String human(CheckResult result) {
    StringBuilder text = new StringBuilder();
    if (result.corruptionsFixed() > 0 || result.leaksFixed() > 0) {
      text.append("The following inconsistencies were found and repaired:\n\n")
          .append("    ").append(result.leaksFixed()).append(" leaked clusters\n")
          .append("    ").append(result.corruptionsFixed()).append(" corruptions\n\n")
          .append("Double checking the fixed image now...\n");
    }
    if (result.corruptions() == 0 && result.leaks() == 0 && result.checkErrors() == 0) {
      text.append("No errors were found on the image.\n");
    } else {
      if (result.corruptions() > 0) {
        text.append('\n').append(result.corruptions()).append(" errors were found on the image.\n")
            .append("Data may be corrupted, or further writes to the image may corrupt it.\n");
      }
      if (result.leaks() > 0) {
        text.append('\n').append(result.leaks()).append(" leaked clusters were found on the image.\n")
            .append("This means waste of disk space, but no harm to data.\n");
      }
      if (result.checkErrors() > 0) {
        text.append('\n').append(result.checkErrors()).append(" internal errors have occurred during the check.\n");
      }
    }
    if (result.totalClusters() != 0 && result.allocatedClusters() != 0) {
      text.append(String.format(Locale.ROOT, "%d/%d = %s%% allocated, %s%% fragmented, %s%% compressed clusters\n",
          result.allocatedClusters(), result.totalClusters(),
          QemuNumbers.fixed(result.allocatedClusters() * 100.0 / result.totalClusters(), 2),
          QemuNumbers.fixed(result.fragmentedClusters() * 100.0 / result.allocatedClusters(), 2),
          QemuNumbers.fixed(result.compressedClusters() * 100.0 / result.allocatedClusters(), 2)));
    }
    if (result.imageEndOffset() != 0) {
      text.append("Image end offset: ").append(result.imageEndOffset()).append('\n');
    }
    return text.toString();
  }

  /** qemu's ImageCheck as JSON: optional members only when non-zero, as collect_image_check sets them. */
  static QDict json(String file, CheckResult result) {
    return new QDict()
        .put("filename", file)
        .put("format", result.format())
        .put("check-errors", result.checkErrors())
        .put("image-end-offset", nonZero(result.imageEndOffset()))
        .put("corruptions", nonZero(result.corruptions()))
        .put("leaks", nonZero(result.leaks()))
        .put("corruptions-fixed", nonZero(result.corruptionsFixed()))
        .put("leaks-fixed", nonZero(result.leaksFixed()))
        .put("total-clusters", nonZero(result.totalClusters()))
        .put("allocated-clusters", nonZero(result.allocatedClusters()))
        .put("fragmented-clusters", nonZero(result.fragmentedClusters()))
        .put("compressed-clusters", nonZero(result.compressedClusters()));
  }

  private static Long nonZero(long value) {
    return value != 0 ? value : null;
  }
}
