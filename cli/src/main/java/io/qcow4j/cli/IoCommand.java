package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * qemu-io: runs each -c command on the image in order, every one even after a failure, and exits 1
 * when any failed. Opens the image read-write unless -r, like qemu-io.
 */
@Command(
    name = "io",
    mixinStandardHelpOptions = true,
    versionProvider = PicocliCommands.Version.class,
    description = "Run qemu-io commands (read, readv, write [-P pattern | -z [-u]] [-c], writev, discard, flush, "
        + "length, map) on an image.")
final class IoCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = {"-f", "--format"}, paramLabel = "FMT", description = "Image format (raw, qcow2); probed when absent.")
  String format;

  @Option(names = {"-r", "--read-only"}, description = "Open the image read-only.")
  boolean readOnly;

  @Option(names = {"-c", "--cmd"}, paramLabel = "COMMAND", description = "A qemu-io command; repeat for several.")
  List<String> commands;

  @Option(names = {"-U", "--force-share"}, description = "Open with force-share (needs -r).")
  boolean forceShare;

  @Mixin ImageOptsOption imageOpts;
  @Mixin ObjectOption objects;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image.")
  String file;

  @Override
  public Integer call() {
    Secrets secrets = ImageArguments.secrets(objects.definitions, spec.commandLine().getOut());
    if (secrets == null) {
      return 0;
    }
    if (commands == null || commands.isEmpty()) {
      throw new CommandFailure("io: give the commands with -c (the interactive prompt is not supported)", 1);
    }
    ImageSpec image = ImageArguments.spec(file, imageOpts.enabled, format, forceShare, ImageArguments.Tool.QEMU_IO,
        spec.commandLine().getErr());
    // qemu-io lets others do anything with the image meanwhile
    OpenOptions defaults = OpenOptions.readWriteDefaults().withReadOnly(readOnly)
        .withSharedPermissions(ImageArguments.SHARE_ALL);
    try (DiskFile disk = ImageArguments.open(image, defaults, secrets, spec.commandLine().getErr())) {
      QemuIoShell shell = new QemuIoShell(disk, spec.commandLine().getOut(), spec.commandLine().getErr());
      boolean failed = false;
      for (String command : commands) {
        failed |= shell.execute(command) < 0;
      }
      return failed ? 1 : 0;
    } catch (IOException e) {
      throw new CommandFailure(file + ": " + Failures.reason(e, file), 1, e);
    }
  }
}
