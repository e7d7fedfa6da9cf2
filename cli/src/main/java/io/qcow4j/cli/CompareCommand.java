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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * qemu-img compare: exit 0 when the guest contents are identical, 1 when they differ, 2 when an
 * image cannot be opened (or the arguments are wrong), 3 when a block status query fails, 4 when a
 * read fails, as qemu-img documents.
 */
final class CompareCommand implements Callable<Integer> {
  static final int IDENTICAL = 0;
  static final int DIFFERENT = 1;
  static final int ERROR = 2;
  static final int BLOCK_STATUS_ERROR = 3;
  static final int READ_ERROR = 4;
  private final PrintWriter out;
  private final PrintWriter err;
  String firstFormat;
  String secondFormat;
  boolean strict;
  boolean quiet;
  boolean progress;
  boolean forceShare;
  boolean imageOpts;
  final List<String> objects = new ArrayList<>();
  String first;
  String second;

  private CompareCommand(Invocation invocation) {
    this.out = invocation.out();
    this.err = invocation.err();
  }

  /** Parses the command's words as qemu-img's img_compare does, then runs it; the exit status. */
  static int main(Invocation invocation) {
    CompareCommand command = new CompareCommand(invocation);
    String sourceCache = null;
    Getopt getopt = invocation.getopt(":hf:F:T:pqsU", List.of(
        Getopt.LongOption.flag("help", 'h'),
        Getopt.LongOption.withArgument("object", Invocation.OBJECT),
        Getopt.LongOption.flag("image-opts", Invocation.IMAGE_OPTS),
        Getopt.LongOption.flag("force-share", 'U')));
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      switch (option) {
        case 'h' -> {
          return invocation.help();
        }
        case 'f' -> command.firstFormat = getopt.optarg();
        case 'F' -> command.secondFormat = getopt.optarg();
        case 'T' -> sourceCache = getopt.optarg();
        case 'p' -> command.progress = true;
        case 'q' -> command.quiet = true;
        case 's' -> command.strict = true;
        case 'U' -> command.forceShare = true;
        case Invocation.OBJECT -> {
          if (!invocation.defineObject(command.objects, getopt.optarg())) {
            return invocation.objectStatus(ERROR);
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
    List<String> operands = getopt.operands();
    if (operands.size() != 2) {
      return invocation.usageError("Expecting two image file names");
    }
    command.first = operands.get(0);
    command.second = operands.get(1);
    if (sourceCache != null && !CacheMode.valid(sourceCache)) {
      invocation.error("Invalid source cache option: " + sourceCache);
      return ERROR;
    }
    return invocation.execute(command);
  }

  @Override
  public Integer call() {
    Secrets secrets = ImageArguments.secrets(objects, out);
    if (secrets == null) {
      return IDENTICAL;
    }
    // qemu-img starts its progress report before it opens the images (0.00 comes once both are
    // open) and ends it (the newline) after everything else it prints
    ProgressPrinter printer = ProgressPrinter.start(out, err, progress && !quiet, 2.0f);
    try {
      return compare(out, secrets, printer);
    } finally {
      printer.end();
    }
  }

  private int compare(PrintWriter out, Secrets secrets, ProgressPrinter printer) {
    try (DiskFile firstDisk = open(first, firstFormat, secrets);
        DiskFile secondDisk = open(second, secondFormat, secrets)) {
      long common = Math.min(firstDisk.size(), secondDisk.size());
      printer.print(0, 100);
      CompareReport report = new CompareReport(printer, common, out);
      CompareResult result;
      try {
        result = ImageCompare.compare(firstDisk, secondDisk, strict, report::update);
      } catch (CompareException e) {
        if (e.offset() >= common && firstDisk.size() != secondDisk.size() && !strict && !quiet
            && e.stage() == CompareException.Stage.READ) {
          // qemu-img warns once past the common part, before it reads the larger image's tail;
          // its buffered stdout reaches the pipe at exit, after the error line
          String name = e.image() == 1 ? first : second;
          err.println(QemuErrors.PREFIX + "Error while reading offset " + e.offset() + " of " + name + ": "
              + Failures.requestReason(e.getCause(), name, err));
          err.flush();
          out.println("Warning: Image size mismatch!");
          out.flush();
          return READ_ERROR;
        }
        throw e;
      }
      if (!quiet) {
        if (result.sizeMismatch()) {
          report.warnSizeMismatch();
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
            + Failures.requestReason(e.getCause(), name, err), BLOCK_STATUS_ERROR, e);
      }
      throw new CommandFailure("Error while reading offset " + e.offset() + " of " + name + ": "
          + Failures.requestReason(e.getCause(), name, err), READ_ERROR, e);
    } catch (CommandFailure e) {
      throw e;
    } catch (IOException e) {
      throw new CommandFailure("Can't get size of " + first + " or " + second + ": " + Failures.reason(e, null), READ_ERROR, e);
    }
  }

  /**
   * The walk's reports as qemu-img compare prints them: each range adds its share of the larger
   * size in float, as {@code ((float) chunk / progress_base) * 100}; the size mismatch warning
   * goes out between the common part and the larger image's tail, where qemu-img prints it.
   */
  private final class CompareReport {
    private final ProgressPrinter printer;
    private final long common;
    private final PrintWriter out;
    private long reported;
    private boolean warned;

    CompareReport(ProgressPrinter printer, long common, PrintWriter out) {
      this.printer = printer;
      this.common = common;
      this.out = out;
    }

    void update(long done, long total) {
      if (done > common) {
        warnSizeMismatch();
      }
      printer.print((float) (done - reported) / (float) total * 100, 100);
      reported = done;
    }

    void warnSizeMismatch() {
      if (!warned && !quiet) {
        out.println("Warning: Image size mismatch!");
        out.flush();
      }
      warned = true;
    }
  }

  /** Opens one image read-only, sharing reads and unchanged writes with others; failures exit 2. */
  private DiskFile open(String name, String format, Secrets secrets) {
    try {
      ImageSpec image = ImageArguments.spec(name, imageOpts, format, forceShare, ImageArguments.Tool.QEMU_IMG, err);
      return ImageArguments.open(image, OpenOptions.readOnlyDefaults(), secrets, err);
    } catch (CommandFailure e) {
      throw new CommandFailure(e.getMessage(), ERROR, e);
    }
  }
}
