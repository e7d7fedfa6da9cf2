package io.qcow4j.cli;

import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.ops.ImageInfos;
import io.qcow4j.ops.ImageRebase;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** qemu-img rebase: change an image's backing file, copying what differs (safe) or not (-u). */
@Command(
    name = "rebase",
    mixinStandardHelpOptions = true,
    versionProvider = PicocliCommands.Version.class,
    description = "Change the backing file of FILE to BACKING_FILE (-b \"\" removes it), copying into FILE what the old"
        + " and new backing chains read differently unless -u, like qemu-img rebase.")
final class RebaseCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = "-f", paramLabel = "FMT", description = "Format of FILE (qcow2); probed when absent.")
  String format;

  @Option(names = "-F", paramLabel = "BACKING_FMT", description = "Format of the new backing file (raw, qcow2); required with a backing file.")
  String backingFormat;

  @Option(names = "-b", paramLabel = "BACKING_FILE", description = "The new backing file, relative to FILE's directory; \"\" for none.")
  String backing;

  @Option(names = "-u", description = "Unsafe: only rewrite the header (the new backing file must read as the old one).")
  boolean unsafe;

  @Option(names = {"-p", "--progress"}, description = "Show progress on stderr.")
  boolean progress;

  @Option(names = {"-q", "--quiet"}, description = "Quiet mode: print nothing but errors.")
  boolean quiet;

  @Option(names = "-t", paramLabel = "CACHE", description = "Cache mode of FILE: accepted; qcow4j uses the page cache.")
  String cache;

  @Option(names = "-T", paramLabel = "SRC_CACHE", description = "Cache mode of the backing files: accepted; qcow4j uses the page cache.")
  String sourceCache;

  @Option(names = {"-U", "--force-share"}, description = "Open the new backing file with force-share.")
  boolean forceShare;

  @Mixin ImageOptsOption imageOpts;
  @Mixin ObjectOption objects;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image to rebase.")
  String file;

  @Override
  public Integer call() {
    Secrets secrets = ImageArguments.secrets(objects.definitions, spec.commandLine().getOut());
    if (secrets == null) {
      return 0;
    }
    if (backing == null && !unsafe) {
      throw new CommandFailure("Must specify backing file (-b) or use unsafe mode (-u)", 1);
    }
    CacheMode.check(cache);
    CacheMode.check(sourceCache);
    if (backingFormat != null) {
      try {
        ImageFormat.parse(backingFormat);
      } catch (UnsupportedFeatureException e) {
        throw new CommandFailure("Invalid format name: '" + backingFormat + "'", 1, e);
      }
    }
    ImageSpec image = ImageArguments.spec(file, imageOpts.enabled, format, false, ImageArguments.Tool.QEMU_IMG,
        spec.commandLine().getErr());
    ProgressPrinter printer = new ProgressPrinter(spec.commandLine().getErr(), progress && !quiet);
    Images.warnIfProbingRaw(image.filename(), image.format(), spec.commandLine().getErr());
    printer.start();
    try {
      ImageRebase.rebase(image, secrets, backing, backingFormat, unsafe, forceShare, printer::update);
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
    } finally {
      printer.finish();
    }
    return 0;
  }
}
