package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.ops.ImageConvert;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** qemu-img convert: the guest content of one or more images into a new sparse raw file. */
@Command(
    name = "convert",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Convert images to a sparse raw file (-O raw), like qemu-img convert; several sources are concatenated.")
final class ConvertCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = {"-f", "--source-format"}, paramLabel = "FMT", description = "Format of the sources (raw, qcow2); probed when absent.")
  String sourceFormat;

  @Option(names = {"-O", "--target-format"}, paramLabel = "FMT", defaultValue = "raw", description = "Output format; only raw for now (default: ${DEFAULT-VALUE}).")
  String targetFormat;

  @Option(names = "-S", paramLabel = "SIZE", description = "Zero runs at least this long become holes (default 4k; 0 allocates everything).")
  String sparseSize;

  @Option(names = {"-p", "--progress"}, description = "Show progress on stderr.")
  boolean progress;

  @Option(names = {"-q", "--quiet"}, description = "Quiet mode.")
  boolean quiet;

  @Option(names = {"-U", "--force-share"}, description = "Accepted for compatibility; qcow4j takes no image locks.")
  boolean forceShare;

  @Option(names = {"-c", "--compress"}, description = "Refused: compression needs -O qcow2, which comes with the write engine.")
  boolean compress;

  @Option(names = "-o", paramLabel = "OPTIONS", description = "Refused: raw output takes no creation options yet.")
  List<String> createOptions;

  @Option(names = {"-B", "--backing"}, paramLabel = "BACKING", description = "Refused: needs a qcow2 target.")
  String backing;

  @Option(names = {"-n", "--no-create"}, description = "Refused: the target is always created.")
  boolean noCreate;

  @Parameters(arity = "2..*", paramLabel = "FILE", description = "Source image(s), then the target file.")
  List<String> files;

  @Override
  public Integer call() {
    switch (targetFormat) {
      case "raw" -> { }
      case "qcow2" -> throw new CommandFailure(
          "-O qcow2: writing qcow2 images is not supported yet (the write engine is not there); use -O raw", 1);
      default -> throw new CommandFailure("-O " + targetFormat + ": unknown or unsupported output format (supported: raw)", 1);
    }
    if (compress) {
      throw new CommandFailure("-c: compression needs -O qcow2, which is not supported yet", 1);
    }
    if (createOptions != null && !createOptions.isEmpty()) {
      throw new CommandFailure("-o " + String.join(",", createOptions) + ": raw output takes no creation options", 1);
    }
    if (backing != null) {
      throw new CommandFailure("-B " + backing + ": a backing file needs -O qcow2, which is not supported yet", 1);
    }
    if (noCreate) {
      throw new CommandFailure("-n: converting into an existing target is not supported; the target is always created", 1);
    }
    long sparseBytes = ImageConvert.DEFAULT_SPARSE_BYTES;
    if (sparseSize != null) {
      sparseBytes = SizeOption.parse("buffer size for sparse output", sparseSize);
      if (sparseBytes % 512 != 0 || sparseBytes > ImageConvert.MAX_SPARSE_BYTES) {
        throw new CommandFailure("Invalid buffer size for sparse output specified (" + sparseSize
            + "). Valid sizes are multiples of 512 up to 16777216. Select 0 to disable sparse detection (fully allocates output).", 1);
      }
    }
    List<String> sourceNames = files.subList(0, files.size() - 1);
    String targetName = files.getLast();
    List<DiskFile> sources = new ArrayList<>();
    ProgressPrinter printer = new ProgressPrinter(spec.commandLine().getErr(), progress && !quiet);
    try {
      for (String name : sourceNames) {
        sources.add(Images.openReadOnly(name, Images.format(sourceFormat)));
      }
      printer.start();
      try {
        ImageConvert.toRaw(sources, Path.of(targetName), sparseBytes, printer::update);
      } catch (IOException e) {
        throw new CommandFailure(targetName + ": error while converting raw: " + Failures.reason(e, targetName), 1, e);
      } finally {
        printer.finish();
      }
    } finally {
      closeAll(sources);
    }
    return 0;
  }

  private static void closeAll(List<DiskFile> disks) {
    for (DiskFile disk : disks) {
      try {
        disk.close();
      } catch (IOException e) {
        // nothing more to do with a read-only source that fails to close
      }
    }
  }
}
