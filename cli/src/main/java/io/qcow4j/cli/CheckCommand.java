package io.qcow4j.cli;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CheckFailedException;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.internal.spec.QDict;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.spec.FormatOptions;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * qemu-img check: the problems found go to stderr line by line as the check meets them, the summary
 * to stdout (or as JSON with qemu-img's field names); after a repair the fixed counts come first and
 * the image is checked again. Exit 0 clean, 2 corruptions, 3 leaks only, 1 when the check could not
 * run, 63 for a format without checks (raw).
 */
final class CheckCommand implements Callable<Integer> {
  /** qemu-img check's status for an image format that cannot be checked. */
  static final int NOT_SUPPORTED = 63;
  private final PrintWriter out;
  private final PrintWriter err;
  String format;
  String repair;
  String output;
  boolean quiet;
  boolean forceShare;
  boolean imageOpts;
  final List<String> objects = new ArrayList<>();
  List<String> files = new ArrayList<>();

  private CheckCommand(Invocation invocation) {
    this.out = invocation.out();
    this.err = invocation.err();
  }

  /** Parses the command's words as qemu-img's img_check does, then runs it; the exit status. */
  static int main(Invocation invocation) {
    CheckCommand command = new CheckCommand(invocation);
    String sourceCache = null;
    Getopt getopt = invocation.getopt(":hf:r:T:qU", List.of(
        Getopt.LongOption.flag("help", 'h'),
        Getopt.LongOption.withArgument("format", 'f'),
        Getopt.LongOption.withArgument("repair", 'r'),
        Getopt.LongOption.withArgument("output", Invocation.OUTPUT),
        Getopt.LongOption.withArgument("object", Invocation.OBJECT),
        Getopt.LongOption.flag("image-opts", Invocation.IMAGE_OPTS),
        Getopt.LongOption.flag("force-share", 'U')));
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      switch (option) {
        case 'h' -> {
          return invocation.help();
        }
        case 'f' -> command.format = getopt.optarg();
        case 'r' -> {
          command.repair = getopt.optarg();
          if (!command.repair.equals("leaks") && !command.repair.equals("all")) {
            return invocation.usageError("Unknown option value for -r (expecting 'leaks' or 'all'): " + command.repair);
          }
        }
        case Invocation.OUTPUT -> command.output = getopt.optarg();
        case 'T' -> sourceCache = getopt.optarg();
        case 'q' -> command.quiet = true;
        case 'U' -> command.forceShare = true;
        case Invocation.OBJECT -> {
          if (!invocation.defineObject(command.objects, getopt.optarg())) {
            return invocation.objectStatus(1);
          }
        }
        case Invocation.IMAGE_OPTS -> command.imageOpts = true;
        default -> {
          if (!invocation.commonOption(getopt, option)) {
            return Main.USAGE_ERROR;
          }
        }
      }
    }
    command.files = getopt.operands();
    if (command.files.size() == 1 && sourceCache != null && !CacheMode.valid(sourceCache)) {
      return invocation.error("Invalid source cache option: " + sourceCache);
    }
    return invocation.executeQemuStyle(command);
  }

  @Override
  public Integer call() throws Exception {
    return check();
  }

  private int check() {
    Secrets secrets = ImageArguments.secrets(objects, out);
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
    ImageSpec image = ImageArguments.spec(file, imageOpts, format, forceShare, ImageArguments.Tool.QEMU_IMG, err);
    CheckResult result;
    try {
      OpenOptions options = image.openOptions(OpenOptions.readOnlyDefaults()
          .withSharedPermissions(ImageArguments.SHARE_ALL).withReadOnly(fix == CheckResult.Repair.NONE));
      ImageFormat imageFormat = options.format() != null ? options.format() : DiskImages.probe(image.path());
      if (fix != CheckResult.Repair.NONE && !imageFormat.writable()) {
        // opened as QEMU opens it for a repair; only qed's check repairs, the others have none with -r
        result = DiskImages.repair(image, options, fix).orElseThrow(
            () -> new CommandFailure("This image format does not support checks", NOT_SUPPORTED));
      } else if (imageFormat == ImageFormat.VMDK || imageFormat == ImageFormat.VHDX || imageFormat == ImageFormat.VDI
          || imageFormat == ImageFormat.QED) {
        try (DiskFile disk = ImageArguments.open(image, options, secrets, err)) {
          result = disk.check(fix);
        }
      } else if (imageFormat != ImageFormat.QCOW2) {
        // qemu-img opens the image (read-write with -r) before it finds that its format has no checks
        ImageArguments.open(image, options, secrets, err).close();
        throw new CommandFailure("This image format does not support checks", NOT_SUPPORTED);
      } else {
        FormatOptions formatOptions = image.formatOptions(imageFormat);
        if (formatOptions.cacheBytes() != null) {
          options = options.withCacheBytes(formatOptions.cacheBytes());
        }
        result = QcowFile.check(image.path(), fix, options, formatOptions, secrets);
      }
    } catch (CheckFailedException e) {
      // the snapshot table's refusals are QEMU's error_report lines, after the program's name
      e.messages().forEach(line -> err.println(
          line.startsWith("ERROR snapshot table ") || line.startsWith("ERROR failed to read the snapshot table")
              ? QemuErrors.PREFIX + line : line));
      throw new CommandFailure("Check failed: " + e.reason(), 1);
    } catch (IOException | RuntimeException e) {
      if (e instanceof CommandFailure failure) {
        throw failure;
      }
      throw ImageArguments.couldNotOpen(image, e);
    }
    for (String message : result.messages()) {
      err.println(message);
    }
    err.flush();
    if (result.checkErrors() > 0 && result.format().equals("vmdk")) {
      // vmdk_co_check ends with -EINVAL for a grain past the end, VMDK_ERROR (-EPERM) for a failed lookup
      boolean pastEnd = result.messages().stream().anyMatch(message -> message.endsWith("points after EOF"));
      throw new CommandFailure("Check failed: " + (pastEnd ? "Invalid argument" : "Operation not permitted"), 1);
    }
    boolean failed = result.checkErrors() > 0;
    if (failed && !Terminal.isTerminal(1)) {
      // qemu-img's summary waits in stdio's buffer of a stdout that is no terminal until it exits:
      // its "Check failed" comes first
      err.println(QemuErrors.PREFIX + "Check failed");
      err.flush();
    }
    if (!quiet) {
      if (outputFormat == OutputFormat.HUMAN) {
        out.print(human(result));
      } else {
        out.println(json(file, result).toPrettyJson());
      }
      out.flush();
    }
    if (failed) {
      if (Terminal.isTerminal(1)) {
        throw new CommandFailure("Check failed", 1);
      }
      return 1;
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
