package io.qcow4j.cli;

import io.qcow4j.ops.ImageInfos;
import io.qcow4j.ops.ImageRebase;
import io.qcow4j.options.FormatNames;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** qemu-img rebase: change an image's backing file, copying what differs (safe) or not (-u). */
final class RebaseCommand implements Callable<Integer> {
  /** qemu-img's IO_BUF_SIZE, by which rebase counts its progress steps. */
  private static final long IO_BUFFER_BYTES = 2 << 20;
  private final PrintWriter out;
  private final PrintWriter err;
  String format;
  String backingFormat;
  String backing;
  boolean unsafe;
  boolean progress;
  boolean quiet;
  String cache;
  String sourceCache;
  boolean forceShare;
  boolean imageOpts;
  final List<String> objects = new ArrayList<>();
  String file;

  private RebaseCommand(Invocation invocation) {
    this.out = invocation.out();
    this.err = invocation.err();
  }

  /** Parses the command's words as qemu-img's img_rebase does, then runs it; the exit status. */
  static int main(Invocation invocation) {
    RebaseCommand command = new RebaseCommand(invocation);
    Getopt getopt = invocation.getopt(":hf:F:b:upt:T:qU", List.of(
        Getopt.LongOption.flag("help", 'h'),
        Getopt.LongOption.withArgument("object", Invocation.OBJECT),
        Getopt.LongOption.flag("image-opts", Invocation.IMAGE_OPTS),
        Getopt.LongOption.flag("force-share", 'U')));
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      switch (option) {
        case 'h' -> {
          return invocation.help();
        }
        case 'f' -> command.format = getopt.optarg();
        case 'F' -> command.backingFormat = getopt.optarg();
        case 'b' -> command.backing = getopt.optarg();
        case 'u' -> command.unsafe = true;
        case 'p' -> command.progress = true;
        case 't' -> command.cache = getopt.optarg();
        case 'T' -> command.sourceCache = getopt.optarg();
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
    List<String> operands = getopt.operands();
    if (operands.size() != 1) {
      return invocation.usageError("Expecting one image file name");
    }
    if (!command.unsafe && command.backing == null) {
      return invocation.usageError("Must specify backing file (-b) or use unsafe mode (-u)");
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
    if (backing == null && !unsafe) {
      throw new CommandFailure("Must specify backing file (-b) or use unsafe mode (-u)", 1);
    }
    // qemu-img starts its progress report (0.00) before it checks the cache modes and opens the
    // image, and ends it (the newline) whatever happens after
    ProgressPrinter printer = ProgressPrinter.start(out, err,
        progress && !quiet, 2.0f);
    printer.print(0, 100);
    try {
      rebase(secrets, printer);
    } finally {
      printer.end();
    }
    return 0;
  }

  private void rebase(Secrets secrets, ProgressPrinter printer) {
    CacheMode.check(cache);
    CacheMode.check(sourceCache);
    // any block driver QEMU has (bdrv_find_format), host_device included: -u records the name
    if (backingFormat != null && !FormatNames.isQemuDriver(backingFormat)) {
      throw new CommandFailure("Invalid format name: '" + backingFormat + "'", 1);
    }
    ImageSpec image = ImageArguments.spec(file, imageOpts, format, false, ImageArguments.Tool.QEMU_IMG,
        err);
    Images.warnIfProbingRaw(image.filename(), image.format(), err);
    try {
      ImageRebase.rebase(image, secrets, backing, backingFormat, unsafe, forceShare, (done, size) ->
          // each range compared is one step of 100 / (size / MIN(size, IO_BUF_SIZE)), in float
          printer.print(100f / (float) (size / Math.min(size, IO_BUFFER_BYTES)), 100));
      printer.print(100, 0);
    } catch (ImageInfos.OpenFailure e) {
      if (e.filename().equals(image.name())) {
        throw ImageArguments.couldNotOpen(image, e.getCause());
      }
      throw Failures.couldNotOpen(e.filename(), (IOException) e.getCause());
    } catch (ImageRebase.NewBackingException e) {
      throw new CommandFailure("Could not open new backing file '" + e.backingName() + "': "
          + Failures.couldNotOpen(e.fullName(), (IOException) e.getCause()).getMessage(), 1, e);
    } catch (ImageRebase.RebaseException e) {
      throw new CommandFailure(e.getMessage(), 1, e);
    } catch (IOException e) {
      throw new CommandFailure(file + ": " + Failures.reason(e, file), 1, e);
    }
  }
}
