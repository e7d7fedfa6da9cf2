package io.qcow4j.cli;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import java.io.IOException;
import java.nio.file.Path;
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
 * when any failed. Opens read-write unless -r, like qemu-io, except qcow2: until io has write
 * commands a read-write open would only risk the image (a dirty image would be repaired, unknown
 * autoclear bits cleared) for nothing, so qcow2 opens read-only.
 */
@Command(
    name = "io",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Run qemu-io commands (read [-P pattern] [-v] [-q] off len, length, map) on an image.")
final class IoCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = {"-f", "--format"}, paramLabel = "FMT", description = "Image format (raw, qcow2); probed when absent.")
  String format;

  @Option(names = {"-r", "--read-only"}, description = "Open the image read-only.")
  boolean readOnly;

  @Option(names = {"-c", "--cmd"}, paramLabel = "COMMAND", description = "A qemu-io command; repeat for several.")
  List<String> commands;

  @Option(names = {"-U", "--force-share"}, description = "Accepted for compatibility; qcow4j takes no image locks.")
  boolean forceShare;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image.")
  String file;

  @Override
  public Integer call() {
    if (commands == null || commands.isEmpty()) {
      throw new CommandFailure("io: give the commands with -c (the interactive prompt is not supported)", 1);
    }
    ImageFormat imageFormat = Images.format(format);
    boolean openReadOnly = readOnly || isQcow2(imageFormat);
    try (DiskFile disk = Images.open(file, (openReadOnly ? OpenOptions.readOnlyDefaults() : OpenOptions.readWriteDefaults())
        .withFormat(imageFormat))) {
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

  /** Whether the image is qcow2 (opened read-only, see above); a file that cannot be probed is left to the open to report. */
  private boolean isQcow2(ImageFormat imageFormat) {
    if (imageFormat != null) {
      return imageFormat == ImageFormat.QCOW2;
    }
    try {
      return DiskImages.probe(Path.of(file)) == ImageFormat.QCOW2;
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }
}
