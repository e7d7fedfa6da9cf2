package io.qcow4j.cli;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.ops.ConvertTarget;
import io.qcow4j.ops.ImageConvert;
import io.qcow4j.options.CreateOptionsReader;
import io.qcow4j.options.FormatNames;
import io.qcow4j.options.OptionHelp;
import io.qcow4j.options.OptionSyntax;
import io.qcow4j.options.OptionValues;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
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

/**
 * qemu-img convert: the guest content of one or more images (concatenated) into a new sparse raw
 * file or qcow2 image (-o options, -c compression, -B backing file with only the differences
 * written), or into an existing image with -n; with qemu-img's checks in its order and its
 * messages.
 */
@Command(
    name = "convert",
    mixinStandardHelpOptions = true,
    versionProvider = PicocliCommands.Version.class,
    description = "Convert images to raw or qcow2, like qemu-img convert; several sources are concatenated.")
final class ConvertCommand implements Callable<Integer> {
  /** qemu-img's bound on -m. */
  private static final int MAX_WORKERS = 16;

  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = {"-f", "--source-format"}, paramLabel = "FMT", description = "Format of the sources (raw, qcow2); probed when absent.")
  String sourceFormat;

  @Option(names = {"-O", "--target-format"}, paramLabel = "FMT", defaultValue = "raw", description = "Output format: raw or qcow2 (default: ${DEFAULT-VALUE}).")
  String targetFormat;

  @Option(names = "-o", paramLabel = "OPTIONS", description = "Creation options of the target, as for create (-o help lists them).")
  List<String> optionLists = new ArrayList<>();

  @Option(names = "-S", paramLabel = "SIZE", description = "Zero runs at least this long become holes (default 4k; 0 allocates everything).")
  String sparseSize;

  @Option(names = {"-c", "--compress"}, description = "Compress the clusters of a qcow2 target, on all cores, deterministically.")
  boolean compress;

  @Option(names = {"-B", "--backing"}, paramLabel = "BACKING", description = "Backing file of the qcow2 target (needs -F); only what differs from it is written.")
  String backing;

  @Option(names = "-F", paramLabel = "BACKING_FMT", description = "Format of the backing file (raw, qcow2).")
  String backingFormat;

  @Option(names = "-m", paramLabel = "N", description = "Parallel workers, 1 to 16 (default 8).")
  String workers;

  @Option(names = "-W", description = "Let the workers write out of order (ignored with -c).")
  boolean outOfOrder;

  @Option(names = {"-n", "--no-create"}, description = "Write into an existing target instead of creating it.")
  boolean noCreate;

  @Option(names = "--target-is-zero",
      description = "The existing target (-n) reads as zeros already: zero ranges are not written.")
  boolean targetIsZero;

  @Option(names = {"-p", "--progress"}, description = "Show progress on stderr.")
  boolean progress;

  @Option(names = {"-q", "--quiet"}, description = "Quiet mode.")
  boolean quiet;

  @Option(names = {"-U", "--force-share"}, description = "Open the sources with force-share.")
  boolean forceShare;

  @Option(names = "-l", paramLabel = "SNAPSHOT_PARAM",
      description = "An internal snapshot to convert (snapshot.id=ID,snapshot.name=NAME or ID_OR_NAME).")
  String snapshot;

  @Option(names = "--target-image-opts", description = "The target is an option string (needs -n).")
  boolean targetImageOpts;

  @Mixin ImageOptsOption imageOpts;
  @Mixin ObjectOption objects;

  @Parameters(arity = "0..*", paramLabel = "FILE", description = "Source image(s), then the target.")
  List<String> files = new ArrayList<>();

  @Override
  public Integer call() throws Exception {
    return QemuErrors.run(spec, this::convert);
  }

  private int convert() {
    Secrets secrets = ImageArguments.secrets(objects.definitions, spec.commandLine().getOut());
    if (secrets == null) {
      return 0;
    }
    ImageArguments.checkSnapshotParameter(snapshot);
    String optionList = QemuOpts.accumulate(optionLists);
    int workerCount = workerCount();
    long sparseBytes = sparseBytes();
    if (targetImageOpts && !noCreate) {
      throw new CommandFailure("--target-image-opts requires use of -n flag", 1);
    }
    if (noCreate && optionList != null) {
      throw new CommandFailure("-o has no effect when skipping image creation", 1);
    }
    if (targetIsZero && !noCreate) {
      throw new CommandFailure("--target-is-zero requires use of -n flag", 1);
    }
    String targetName = files.size() >= 2 ? files.getLast() : null;
    if (OptionSyntax.wantsHelp(optionList)) {
      spec.commandLine().getOut().print(OptionHelp.create(outputFormat(), targetName));
      return 0;
    }
    if (files.size() < 2) {
      throw new CommandFailure("Must specify image file name", 1);
    }
    List<String> sourceNames = files.subList(0, files.size() - 1);
    if (snapshot != null && sourceNames.size() > 1) {
      throw new CommandFailure("No support for concatenating multiple snapshot", 1);
    }
    List<DiskFile> sources = new ArrayList<>();
    ProgressPrinter printer = new ProgressPrinter(spec.commandLine().getErr(), progress && !quiet);
    ImageConvert.Options copyOptions = ImageConvert.Options.defaults()
        .withCompress(compress)
        .withWorkers(workerCount)
        .withOutOfOrderWrites(outOfOrder)
        .withDetectZeroes(sparseBytes != 0)
        .withTargetIsNew(targetIsZero);
    try {
      long total = 0;
      for (String name : sourceNames) {
        ImageSpec source = ImageArguments.spec(name, imageOpts.enabled, sourceFormat, forceShare,
            ImageArguments.Tool.QEMU_IMG, spec.commandLine().getErr());
        DiskFile disk = ImageArguments.open(source, OpenOptions.readOnlyDefaults()
            .withSnapshot(ImageArguments.snapshotSelector(snapshot)), secrets, spec.commandLine().getErr());
        sources.add(disk);
        total += disk.size();
      }
      if (targetIsZero && backing != null) {
        // qemu-img 7.2 says so and exits with status 0, writing nothing
        spec.commandLine().getErr().println(QemuErrors.PREFIX
            + "Cannot use --target-is-zero when the destination image has a backing file");
        spec.commandLine().getErr().flush();
        return 0;
      }
      if (noCreate) {
        // -O names the target's format, which an option string names itself
        boolean formatGiven = spec.commandLine().getParseResult().hasMatchedOption("-O");
        ImageSpec targetSpec = ImageArguments.spec(targetName, targetImageOpts,
            targetImageOpts && !formatGiven ? null : targetFormat, false, ImageArguments.Tool.QEMU_IMG,
            spec.commandLine().getErr());
        DiskFile target = ImageArguments.open(targetSpec, OpenOptions.readWriteDefaults(), secrets,
            spec.commandLine().getErr());
        run(printer, () -> ConvertTarget.intoExisting(sources, target, copyOptions, printer::update), targetName, null);
      } else {
        ImageFormat format = outputFormat();
        CreateOptions createOptions = createOptions(format, optionList, total, sourceNames.size(), targetName);
        run(printer, () -> ConvertTarget.intoNew(sources, Path.of(targetName), format, createOptions, sparseBytes,
            copyOptions, printer::update), targetName, format);
      }
    } catch (IOException e) {
      throw new CommandFailure(Failures.reason(e, null), 1, e);
    } finally {
      closeAll(sources);
    }
    return 0;
  }

  /** The new target's options: -o, -B and -F as img_convert checks them, then as the format checks them. */
  private CreateOptions createOptions(ImageFormat format, String optionList, long total, int sourceCount,
      String targetName) {
    OptionValues values;
    try {
      values = CreateOptionsReader.convertTarget(format, optionList, total, backing, backingFormat, sourceCount,
          compress);
    } catch (InvalidOptionException e) {
      throw new CommandFailure(e.getMessage(), 1, e);
    }
    try {
      return CreateOptionsReader.read(format, values, total);
    } catch (InvalidOptionException e) {
      throw new CommandFailure(targetName + ": error while converting " + format.id() + ": " + e.getMessage(), 1, e);
    }
  }

  /** A conversion step that may fail. */
  private interface Step {
    void run() throws IOException;
  }

  /** Runs the copy with the progress line, turning failures into qemu-img's messages. */
  private static void run(ProgressPrinter printer, Step step, String targetName, ImageFormat format) {
    try {
      step.run();
    } catch (InvalidOptionException e) {
      throw new CommandFailure(e.getMessage(), 1, e);
    } catch (ConvertTarget.ConvertException e) {
      String reason = Failures.reason(e.getCause(), targetName);
      throw new CommandFailure(e.stage() == ConvertTarget.ConvertException.Stage.CREATE
          ? targetName + ": error while converting " + format.id() + ": " + reason
          : "error while writing: " + reason, 1, e);
    } catch (IOException e) {
      throw new CommandFailure(Failures.reason(e, null), 1, e);
    } finally {
      printer.finish();
    }
  }

  private ImageFormat outputFormat() {
    try {
      return FormatNames.outputFormat(targetFormat);
    } catch (InvalidOptionException e) {
      throw new CommandFailure(e.getMessage(), 1, e);
    }
  }

  /** -m as qemu-img reads it (strtol): 1 to 16 workers, 8 when absent. */
  private int workerCount() {
    if (workers == null) {
      return 8;
    }
    // strtol in base 10, the whole argument
    Long count = workers.matches("\\s*[+-]?\\d{1,18}") ? Long.valueOf(workers.strip()) : null;
    if (count == null || count < 1 || count > MAX_WORKERS) {
      throw new CommandFailure("Invalid number of coroutines. Allowed number of coroutines is between 1 and "
          + MAX_WORKERS, 1);
    }
    return count.intValue();
  }

  private long sparseBytes() {
    if (sparseSize == null) {
      return ImageConvert.DEFAULT_SPARSE_BYTES;
    }
    long bytes = SizeOption.parse("buffer size for sparse output", sparseSize);
    if (bytes % 512 != 0 || bytes > ImageConvert.MAX_SPARSE_BYTES) {
      throw new CommandFailure("Invalid buffer size for sparse output specified (" + sparseSize
          + "). Valid sizes are multiples of 512 up to 16777216. Select 0 to disable sparse detection (fully allocates output).", 1);
    }
    return bytes;
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
