package io.qcow4j.cli;

import io.qcow4j.ops.ImageCommit;
import io.qcow4j.ops.ImageInfos;
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

/** qemu-img commit: merge an image's data into its backing file (or a base deeper in the chain). */
@Command(
    name = "commit",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Commit the changes recorded in FILE into its backing file (or the base named by -b), then empty FILE"
        + " unless -d, like qemu-img commit.")
final class CommitCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = "-f", paramLabel = "FMT", description = "Format of FILE (qcow2); probed when absent.")
  String format;

  @Option(names = "-t", paramLabel = "CACHE", description = "Cache mode (none, writeback, writethrough, directsync, unsafe): accepted; qcow4j uses the page cache.")
  String cache;

  @Option(names = "-b", paramLabel = "BASE", description = "The backing chain member to commit into (as the chain names it, or its path); implies -d.")
  String base;

  @Option(names = "-d", description = "Leave FILE as it is instead of emptying it.")
  boolean drop;

  @Option(names = {"-p", "--progress"}, description = "Show progress on stdout, as qemu-img does.")
  boolean progress;

  @Option(names = {"-q", "--quiet"}, description = "Quiet mode: print nothing but errors.")
  boolean quiet;

  @Option(names = "-r", paramLabel = "RATE_LIMIT", description = "Refused: commit runs at full speed.")
  String rateLimit;

  @Mixin ImageOptsOption imageOpts;
  @Mixin ObjectOption objects;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image to commit.")
  String file;

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
    Secrets secrets = ImageArguments.secrets(objects.definitions, spec.commandLine().getOut());
    if (secrets == null) {
      return 0;
    }
    CacheMode.check(cache);
    if (rateLimit != null) {
      throw new CommandFailure("-r " + rateLimit + ": rate limits are not supported", 1);
    }
    ImageSpec image = ImageArguments.spec(file, imageOpts.enabled, format, false, ImageArguments.Tool.QEMU_IMG,
        spec.commandLine().getErr());
    Images.warnIfProbingRaw(image.filename(), image.format(), spec.commandLine().getErr());
    CommitReport report = new CommitReport(ProgressPrinter.start(spec.commandLine().getOut(),
        spec.commandLine().getErr(), progress && !quiet, 1.0f));
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
      PrintWriter out = spec.commandLine().getOut();
      out.println("Image committed.");
      out.flush();
    }
    return 0;
  }
}
