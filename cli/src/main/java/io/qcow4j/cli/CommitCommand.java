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
    versionProvider = PicocliCommands.Version.class,
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

  @Option(names = {"-p", "--progress"}, description = "Show progress on stderr.")
  boolean progress;

  @Option(names = {"-q", "--quiet"}, description = "Quiet mode: print nothing but errors.")
  boolean quiet;

  @Option(names = "-r", paramLabel = "RATE_LIMIT", description = "Refused: commit runs at full speed.")
  String rateLimit;

  @Mixin ImageOptsOption imageOpts;
  @Mixin ObjectOption objects;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image to commit.")
  String file;

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
    ProgressPrinter printer = new ProgressPrinter(spec.commandLine().getErr(), progress && !quiet);
    Images.warnIfProbingRaw(image.filename(), image.format(), spec.commandLine().getErr());
    printer.start();
    try {
      ImageCommit.commit(image, secrets, base, drop, printer::update);
    } catch (ImageInfos.OpenFailure e) {
      if (e.filename().equals(image.name())) {
        throw ImageArguments.couldNotOpen(image, e.getCause());
      }
      throw Failures.couldNotOpen(e.filename(), (IOException) e.getCause());
    } catch (ImageCommit.CommitException e) {
      throw new CommandFailure(e.getMessage(), 1, e);
    } catch (IOException e) {
      throw new CommandFailure(file + ": " + Failures.reason(e, file), 1, e);
    } finally {
      printer.finish();
    }
    if (!quiet) {
      PrintWriter out = spec.commandLine().getOut();
      out.println("Image committed.");
      out.flush();
    }
    return 0;
  }
}
