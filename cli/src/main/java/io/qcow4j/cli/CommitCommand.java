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
    ImageSpec image = ImageArguments.spec(file, imageOpts, format, false, ImageArguments.Tool.QEMU_IMG, err);
    ProgressPrinter printer = new ProgressPrinter(err, progress && !quiet);
    Images.warnIfProbingRaw(image.filename(), image.format(), err);
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
      out.println("Image committed.");
      out.flush();
    }
    return 0;
  }
}
