package io.qcow4j.cli;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.Preallocation;
import io.qcow4j.ops.ImageConvert;
import io.qcow4j.qcow2.QcowFile;
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
    versionProvider = Main.Version.class,
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

  @Option(names = {"-p", "--progress"}, description = "Show progress on stderr.")
  boolean progress;

  @Option(names = {"-q", "--quiet"}, description = "Quiet mode.")
  boolean quiet;

  @Option(names = {"-U", "--force-share"}, description = "Open the sources with force-share.")
  boolean forceShare;

  @Option(names = "-l", paramLabel = "SNAPSHOT_PARAM",
      description = "An internal snapshot to convert (snapshot.id=ID,snapshot.name=NAME or ID_OR_NAME): not supported yet.")
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
    for (String list : optionLists) {
      if (!CreationOptions.isValidList(list)) {
        throw new CommandFailure("Invalid option list: " + list, 1);
      }
    }
    int workerCount = workerCount();
    long sparseBytes = sparseBytes();
    if (targetImageOpts && !noCreate) {
      throw new CommandFailure("--target-image-opts requires use of -n flag", 1);
    }
    if (noCreate && !optionLists.isEmpty()) {
      throw new CommandFailure("-o has no effect when skipping image creation", 1);
    }
    String optionList = optionLists.isEmpty() ? null : String.join(",", optionLists);
    String targetName = files.size() >= 2 ? files.getLast() : null;
    if (optionList != null && CreationOptions.wantsHelp(optionList)) {
      spec.commandLine().getOut().print(CreationOptions.help(outputFormat(), targetName));
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
    try {
      long total = 0;
      for (String name : sourceNames) {
        ImageSpec source = ImageArguments.spec(name, imageOpts.enabled, sourceFormat, forceShare,
            ImageArguments.Tool.QEMU_IMG, spec.commandLine().getErr());
        DiskFile disk = ImageArguments.open(source, OpenOptions.readOnlyDefaults(), secrets);
        sources.add(disk);
        total += disk.size();
      }
      ImageArguments.refuseSnapshot(snapshot, "-l");
      if (noCreate) {
        intoExisting(sources, targetName, total, workerCount, sparseBytes, printer, secrets);
      } else {
        intoNew(sources, sourceNames.size(), targetName, optionList, total, workerCount, sparseBytes, printer);
      }
    } catch (IOException e) {
      throw new CommandFailure(Failures.reason(e, null), 1, e);
    } finally {
      closeAll(sources);
    }
    return 0;
  }

  /** Creates the target as -O and -o say, then copies into it. */
  private void intoNew(List<DiskFile> sources, int sourceCount, String targetName, String optionList, long total,
      int workerCount, long sparseBytes, ProgressPrinter printer) throws IOException {
    ImageFormat format = outputFormat();
    CreationOptions options = CreationOptions.forFormat(format);
    CreateOptions createOptions;
    try {
      if (optionList != null) {
        options.parse(optionList);
      }
      options.setSize(total);
      if (backing != null) {
        if (!options.accepts("backing_file")) {
          throw new CommandFailure("Backing file not supported for file format '" + targetFormat + "'", 1);
        }
        options.set("backing_file", backing);
      }
      if (backingFormat != null) {
        if (!options.accepts("backing_fmt")) {
          throw new CommandFailure("Backing file format not supported for file format '" + targetFormat + "'", 1);
        }
        options.set("backing_fmt", backingFormat);
      }
    } catch (CreationOptions.InvalidOption e) {
      throw new CommandFailure(e.getMessage(), 1, e);
    }
    String backingFile = options.get("backing_file");
    if (sourceCount > 1 && backingFile != null) {
      throw new CommandFailure("Having a backing file for the target makes no sense when concatenating multiple input images", 1);
    }
    if (backingFile != null && options.get("backing_fmt") == null) {
      throw new CommandFailure("Use of backing file requires explicit backing format", 1);
    }
    if (compress) {
      if (format != ImageFormat.QCOW2) {
        throw new CommandFailure("Compression not supported for this file format", 1);
      }
      String preallocation = options.get("preallocation");
      if (preallocation != null && !preallocation.equals("off")) {
        throw new CommandFailure("Compression and preallocation not supported at the same time", 1);
      }
    }
    try {
      createOptions = format == ImageFormat.QCOW2 ? options.toQcow2(total) : options.toRaw(total);
    } catch (CreationOptions.InvalidOption e) {
      throw new CommandFailure(targetName + ": error while converting " + format.id() + ": " + e.getMessage(), 1, e);
    }
    if (format == ImageFormat.RAW && createOptions.preallocation() == Preallocation.OFF) {
      printer.start();
      try {
        ImageConvert.toRaw(sources, Path.of(targetName), sparseBytes, printer::update);
      } catch (IOException e) {
        throw new CommandFailure(targetName + ": error while converting raw: " + Failures.reason(e, targetName), 1, e);
      } finally {
        printer.finish();
      }
      return;
    }
    DiskFile target;
    try {
      target = format == ImageFormat.QCOW2 ? QcowFile.create(Path.of(targetName), createOptions)
          : io.qcow4j.DiskImages.create(Path.of(targetName), format, createOptions);
    } catch (IOException | RuntimeException e) {
      throw new CommandFailure(targetName + ": error while converting " + format.id() + ": "
          + Failures.reason(e, targetName), 1, e);
    }
    copy(sources, target, targetName, options(workerCount, sparseBytes, true), printer);
  }

  /** -n: the target exists and keeps its format; every zero range of the sources is written as zeros. */
  private void intoExisting(List<DiskFile> sources, String targetName, long total, int workerCount, long sparseBytes,
      ProgressPrinter printer, Secrets secrets) throws IOException {
    // -O names the target's format, which an option string names itself
    boolean formatGiven = spec.commandLine().getParseResult().hasMatchedOption("-O");
    ImageSpec targetSpec = ImageArguments.spec(targetName, targetImageOpts,
        targetImageOpts && !formatGiven ? null : targetFormat, false, ImageArguments.Tool.QEMU_IMG,
        spec.commandLine().getErr());
    DiskFile target = ImageArguments.open(targetSpec, OpenOptions.readWriteDefaults(), secrets);
    if (target.size() < total) {
      target.close();
      throw new CommandFailure("output file is smaller than input file", 1);
    }
    if (compress && !(target instanceof QcowFile)) {
      target.close();
      throw new CommandFailure("Compression not supported for this file format", 1);
    }
    copy(sources, target, targetName, options(workerCount, sparseBytes, false), printer);
  }

  private ImageConvert.Options options(int workerCount, long sparseBytes, boolean targetIsNew) {
    return ImageConvert.Options.defaults()
        .withCompress(compress)
        .withWorkers(workerCount)
        .withOutOfOrderWrites(outOfOrder)
        .withDetectZeroes(sparseBytes != 0)
        .withTargetIsNew(targetIsNew);
  }

  private void copy(List<DiskFile> sources, DiskFile target, String targetName, ImageConvert.Options options,
      ProgressPrinter printer) {
    printer.start();
    try (target) {
      ImageConvert.toImage(sources, target, options, printer::update);
    } catch (IOException | RuntimeException e) {
      throw new CommandFailure("error while writing: " + Failures.reason(e, targetName), 1, e);
    } finally {
      printer.finish();
    }
  }

  private ImageFormat outputFormat() {
    try {
      return CreationOptions.parseFormat(targetFormat);
    } catch (CreationOptions.InvalidOption e) {
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
