package io.qcow4j.cli;

import io.qcow4j.ops.ImageCommit;
import io.qcow4j.ops.ImageInfos;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** qemu-img commit: merge an image's data into its backing file (or a base deeper in the chain). */
final class CommitCommand implements Callable<Integer> {
  private final PrintWriter out;
  private final PrintWriter err;
  String format;
  String cache;
  String base;
  boolean drop;
  boolean progress;
  boolean quiet;
  String rateLimit;
  boolean imageOpts;
  final List<String> objects = new ArrayList<>();
  String file;

  private CommitCommand(Invocation invocation) {
    this.out = invocation.out();
    this.err = invocation.err();
  }

  /** Parses the command's words as qemu-img's img_commit does, then runs it; the exit status. */
  static int main(Invocation invocation) {
    CommitCommand command = new CommitCommand(invocation);
    Getopt getopt = invocation.getopt(":f:ht:b:dpqr:", List.of(
        Getopt.LongOption.flag("help", 'h'),
        Getopt.LongOption.withArgument("object", Invocation.OBJECT),
        Getopt.LongOption.flag("image-opts", Invocation.IMAGE_OPTS)));
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      switch (option) {
        case 'h' -> {
          return invocation.help();
        }
        case 'f' -> command.format = getopt.optarg();
        case 't' -> command.cache = getopt.optarg();
        case 'b' -> {
          command.base = getopt.optarg();
          // -b implies -d
          command.drop = true;
        }
        case 'd' -> command.drop = true;
        case 'p' -> command.progress = true;
        case 'q' -> command.quiet = true;
        case 'r' -> command.rateLimit = getopt.optarg();
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
    List<String> operands = getopt.operands();
    if (operands.size() != 1) {
      return invocation.usageError("Expecting one image file name");
    }
    command.file = operands.getFirst();
    return invocation.execute(command);
  }

  /**
   * The progress report as qemu-img commit makes it: started (0.00) once the images are open, then
   * the job's progress as {@code (float) done / total * 100.f}, 100 when it completed, and the
   * newline before "Image committed.".
   */
  private static final class CommitReport {
    final ProgressPrinter printer;
    private boolean begun;

    CommitReport(ProgressPrinter printer) {
      this.printer = printer;
    }

    void begin() {
      if (!begun) {
        begun = true;
        printer.print(0, 100);
      }
    }

    void update(long done, long total) {
      begin();
      printer.print(total == 0 ? 0 : (float) done / total * 100f, 0);
    }

    void end() {
      begin();
      printer.end();
    }
  }

  @Override
  public Integer call() {
    Secrets secrets = ImageArguments.secrets(objects, out);
    if (secrets == null) {
      return 0;
    }
    CacheMode.check(cache);
    if (rateLimit != null) {
      throw new CommandFailure("-r " + rateLimit + ": rate limits are not supported", 1);
    }
    ImageSpec image = ImageArguments.spec(file, imageOpts, format, false, ImageArguments.Tool.QEMU_IMG,
        err);
    Images.warnIfProbingRaw(image.filename(), image.format(), err);
    CommitReport report = new CommitReport(ProgressPrinter.start(out,
        err, progress && !quiet, 1.0f));
    try {
      ImageCommit.commit(image, secrets, base, drop, report::update);
      report.begin();
      // qemu-img prints 100 once the job has completed
      report.printer.print(100, 0);
      report.end();
    } catch (ImageInfos.OpenFailure e) {
      // qemu-img opens the whole chain before it starts its progress report
      if (e.filename().equals(image.name())) {
        throw ImageArguments.couldNotOpen(image, e.getCause());
      }
      throw Failures.couldNotOpen(e.filename(), (IOException) e.getCause());
    } catch (ImageCommit.CommitException e) {
      report.end();
      throw new CommandFailure(e.getMessage(), 1, e);
    } catch (IOException e) {
      report.end();
      throw new CommandFailure(file + ": " + Failures.reason(e, file), 1, e);
    }
    if (!quiet) {
      out.println("Image committed.");
      out.flush();
    }
    return 0;
  }
}
