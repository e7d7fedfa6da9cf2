package io.qcow4j.cli;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.ops.ConvertTarget;
import io.qcow4j.ops.ImageCreate;
import io.qcow4j.ops.ImageConvert;
import io.qcow4j.options.CreateOptionsReader;
import io.qcow4j.options.FormatNames;
import io.qcow4j.options.OptionHelp;
import io.qcow4j.options.OptionSyntax;
import io.qcow4j.options.OptionValues;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * qemu-img convert: the guest content of one or more images (concatenated) into a new sparse raw
 * file or qcow2 image (-o options, -c compression, -B backing file with only the differences
 * written), or into an existing image with -n; with qemu-img's checks in its order and its
 * messages.
 */
final class ConvertCommand implements Callable<Integer> {
  /** qemu-img's bound on -m. */
  private static final int MAX_WORKERS = 16;
  private final PrintWriter out;
  private final PrintWriter err;
  String sourceFormat;
  String targetFormat = "raw";
  /** Whether -O was given: an option string target (--target-image-opts) names its format itself. */
  boolean targetFormatGiven;
  List<String> optionLists = new ArrayList<>();
  String sparseSize;
  /** -S in bytes, qemu-img's default until given. */
  long sparseBytes = ImageConvert.DEFAULT_SPARSE_BYTES;
  boolean compress;
  String backing;
  String backingFormat;
  String workers;
  boolean outOfOrder;
  boolean noCreate;
  boolean targetIsZero;
  boolean progress;
  boolean quiet;
  /** --salvage: read and block status failures of the sources are warned about and gone past. */
  boolean salvage;
  boolean forceShare;
  /** The target's cache mode (-t): qemu-img convert's default, unsafe, never flushes. */
  String cache = "unsafe";
  String snapshot;
  boolean targetImageOpts;
  boolean imageOpts;
  /** --bitmaps: the source's persistent bitmaps copied to the target after the data. */
  boolean bitmaps;
  boolean skipBrokenBitmaps;
  final List<String> objects = new ArrayList<>();
  List<String> files = new ArrayList<>();

  private ConvertCommand(Invocation invocation) {
    this.out = invocation.out();
    this.err = invocation.err();
  }

  /**
   * Parses the command's words as qemu-img's img_convert does, then runs it; the exit status. Of
   * its options, -C (copy offloading: the same bytes) and the cache modes are read and checked;
   * -r is refused, qcow4j has no rate limit.
   */
  static int main(Invocation invocation) {
    ConvertCommand command = new ConvertCommand(invocation);
    boolean copyOffloading = false;
    boolean sparseSizeGiven = false;
    boolean salvage = false;
    boolean bitmaps = false;
    boolean skipBrokenBitmaps = false;
    String rateLimit = null;
    String sourceCache = null;
    Getopt getopt = invocation.getopt(":hf:O:B:CcF:o:l:S:pt:T:qnm:WUr:", List.of(
        Getopt.LongOption.flag("help", 'h'),
        Getopt.LongOption.withArgument("object", Invocation.OBJECT),
        Getopt.LongOption.flag("image-opts", Invocation.IMAGE_OPTS),
        Getopt.LongOption.flag("force-share", 'U'),
        Getopt.LongOption.flag("target-image-opts", Invocation.TARGET_IMAGE_OPTS),
        Getopt.LongOption.flag("salvage", Invocation.SALVAGE),
        Getopt.LongOption.flag("target-is-zero", Invocation.TARGET_IS_ZERO),
        Getopt.LongOption.flag("bitmaps", Invocation.BITMAPS),
        Getopt.LongOption.flag("skip-broken-bitmaps", Invocation.SKIP_BROKEN)));
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      switch (option) {
        case 'h' -> {
          return invocation.help();
        }
        case 'f' -> command.sourceFormat = getopt.optarg();
        case 'O' -> {
          command.targetFormat = getopt.optarg();
          command.targetFormatGiven = true;
        }
        case 'B' -> command.backing = getopt.optarg();
        case 'C' -> copyOffloading = true;
        case 'c' -> command.compress = true;
        case 'F' -> command.backingFormat = getopt.optarg();
        case 'o' -> {
          command.optionLists.add(getopt.optarg());
          if (!invocation.valid(() -> QemuOpts.accumulate(command.optionLists))) {
            return 1;
          }
        }
        case 'l' -> command.snapshot = getopt.optarg();
        case 'S' -> {
          command.sparseSize = getopt.optarg();
          sparseSizeGiven = true;
          if (!invocation.valid(() -> command.sparseBytes = command.parseSparseBytes())) {
            return 1;
          }
        }
        case 'p' -> command.progress = true;
        case 't' -> command.cache = getopt.optarg();
        case 'T' -> sourceCache = getopt.optarg();
        case 'q' -> command.quiet = true;
        case 'n' -> command.noCreate = true;
        case 'm' -> {
          command.workers = getopt.optarg();
          if (!invocation.valid(command::workerCount)) {
            return 1;
          }
        }
        case 'W' -> command.outOfOrder = true;
        case 'U' -> command.forceShare = true;
        case 'r' -> rateLimit = getopt.optarg();
        case Invocation.OBJECT -> {
          if (!invocation.defineObject(command.objects, getopt.optarg())) {
            return invocation.objectStatus(1);
          }
        }
        case Invocation.IMAGE_OPTS -> command.imageOpts = true;
        case Invocation.SALVAGE -> salvage = true;
        case Invocation.TARGET_IMAGE_OPTS -> command.targetImageOpts = true;
        case Invocation.TARGET_IS_ZERO -> command.targetIsZero = true;
        case Invocation.BITMAPS -> bitmaps = true;
        case Invocation.SKIP_BROKEN -> skipBrokenBitmaps = true;
        default -> {
          if (!invocation.commonOption(getopt, option)) {
            return Main.USAGE_ERROR;
          }
        }
      }
    }
    if (skipBrokenBitmaps && !bitmaps) {
      return invocation.error("Use of --skip-broken-bitmaps requires --bitmaps");
    }
    if (command.compress && copyOffloading) {
      return invocation.error("Cannot enable copy offloading when -c is used");
    }
    if (sparseSizeGiven && copyOffloading) {
      return invocation.error("Cannot enable copy offloading when -S is used");
    }
    if (copyOffloading && salvage) {
      return invocation.error("Cannot use copy offloading in salvaging mode");
    }
    if (rateLimit != null) {
      return invocation.error("-r " + rateLimit + ": rate limits are not supported");
    }
    command.salvage = salvage;
    command.bitmaps = bitmaps;
    command.skipBrokenBitmaps = skipBrokenBitmaps;
    if (!CacheMode.valid(command.cache)) {
      return invocation.error("Invalid cache option: " + command.cache);
    }
    if (sourceCache != null && !CacheMode.valid(sourceCache)) {
      return invocation.error("Invalid source cache option: " + sourceCache);
    }
    command.files = getopt.operands();
    return invocation.executeQemuStyle(command);
  }

  @Override
  public Integer call() throws Exception {
    return convert();
  }

  private int convert() {
    Secrets secrets = ImageArguments.secrets(objects, out);
    if (secrets == null) {
      return 0;
    }
    ImageArguments.checkSnapshotParameter(snapshot);
    String optionList = QemuOpts.accumulate(optionLists);
    int workerCount = workerCount();
    // parsed once, as the option came (qemu_strtosz warns each time it parses)
    long sparseBytes = this.sparseBytes;
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
      out.print(OptionHelp.create(outputFormat(), targetName));
      return 0;
    }
    if (files.size() < 2) {
      throw new CommandFailure("Must specify image file name", 1);
    }
    // qemu-img starts its progress report (0.00) here, before it opens anything, and ends it
    // (the newline) whatever happens after
    ProgressPrinter printer = ProgressPrinter.start(out, err,
        progress && !quiet, 1.0f);
    printer.print(0, 100);
    try {
      return convert(secrets, optionList, workerCount, sparseBytes, targetName, printer);
    } finally {
      printer.end();
    }
  }

  private int convert(Secrets secrets, String optionList, int workerCount, long sparseBytes, String targetName,
      ProgressPrinter printer) {
    List<String> sourceNames = files.subList(0, files.size() - 1);
    if (snapshot != null && sourceNames.size() > 1) {
      throw new CommandFailure("No support for concatenating multiple snapshot", 1);
    }
    List<DiskFile> sources = new ArrayList<>();
    ImageConvert.Progress report = (done, total) -> printer.printValue(ProgressPrinter.convertValue(done, total));
    ImageConvert.Options copyOptions = ImageConvert.Options.defaults()
        .withCompress(compress)
        .withWorkers(workerCount)
        .withOutOfOrderWrites(outOfOrder)
        .withSparseBytes(sparseBytes)
        .withTargetIsNew(targetIsZero)
        .withSalvage(salvage ? salvageWarnings() : null);
    try {
      long total = 0;
      for (String name : sourceNames) {
        ImageSpec source = ImageArguments.spec(name, imageOpts, sourceFormat, forceShare,
            ImageArguments.Tool.QEMU_IMG, err);
        DiskFile disk = ImageArguments.open(source, OpenOptions.readOnlyDefaults()
            .withSnapshot(ImageArguments.snapshotSelector(snapshot)), secrets, err);
        sources.add(disk);
        total += disk.size();
      }
      if (bitmaps) {
        checkBitmaps(sources);
      }
      if (targetIsZero && backing != null) {
        // qemu-img 7.2 says so and exits with status 0, writing nothing
        err.println(QemuErrors.PREFIX
            + "Cannot use --target-is-zero when the destination image has a backing file");
        err.flush();
        // and, having failed with status 0, reports the copy it skipped as done
        printer.print(100, 0);
        return 0;
      }
      if (noCreate) {
        // -O names the target's format, which an option string names itself
        boolean formatGiven = targetFormatGiven;
        ImageSpec targetSpec = ImageArguments.spec(targetName, targetImageOpts,
            targetImageOpts && !formatGiven ? null : targetFormat, false, ImageArguments.Tool.QEMU_IMG,
            err);
        DiskFile target = ImageArguments.open(targetSpec,
            OpenOptions.readWriteDefaults().withFlushes(CacheMode.flushes(cache)), secrets,
            err);
        if (bitmaps) {
          checkTargetBitmaps(target);
        }
        run(() -> ConvertTarget.intoExisting(sources, target, copyOptions, report), targetName, null);
        if (bitmaps) {
          copyBitmaps(sources.getFirst(), targetSpec, secrets);
        }
      } else {
        ImageFormat format = outputFormat();
        CreateOptions createOptions = createOptions(format, optionList, total, sourceNames.size(), targetName,
            secrets);
        if (bitmaps && (format != ImageFormat.QCOW2 || createOptions.compat() == io.qcow4j.disk.Compat.V2)) {
          throw new CommandFailure("Format driver '" + format.id() + "' does not support bitmaps", 1);
        }
        run(() -> ConvertTarget.intoNew(sources, targetName, format, createOptions, sparseBytes,
            copyOptions, CacheMode.flushes(cache), report), targetName, format);
        if (bitmaps) {
          copyBitmaps(sources.getFirst(), ImageArguments.spec(targetName, false, format.id(), false,
              ImageArguments.Tool.QEMU_IMG, err), secrets);
        }
      }
      printer.print(100, 0);
    } catch (IOException e) {
      throw new CommandFailure(Failures.reason(e, null), 1, e);
    } finally {
      closeAll(sources);
    }
    return 0;
  }

  /** qemu-img's warnings of --salvage (none with -q), as convert_iteration_sectors and convert_co_read print them. */
  private ImageConvert.Salvage salvageWarnings() {
    return new ImageConvert.Salvage() {
      @Override
      public void blockStatusFailed(long offset, IOException cause) {
        warn("error while reading block status at offset " + offset + ": " + Failures.reason(cause, null));
      }

      @Override
      public void readFailed(long offset, IOException cause) {
        warn("error while reading offset " + offset + ": " + Failures.reason(cause, null));
      }

      private void warn(String message) {
        if (!quiet) {
          err.println(QemuErrors.PREFIX + "warning: " + message);
        }
      }
    };
  }

  /** qemu-img's convert_check_bitmaps: one source, qcow2 v3, no inconsistent bitmap unless skipped. */
  private void checkBitmaps(List<DiskFile> sources) throws IOException {
    if (sources.size() > 1) {
      throw new CommandFailure("Copying bitmaps only possible with single source", 1);
    }
    if (!(sources.getFirst() instanceof io.qcow4j.qcow2.QcowFile source)
        || source.info().qcow2() == null || source.info().qcow2().version() < 3) {
      throw new CommandFailure("Source lacks bitmap support", 1);
    }
    // QEMU walks its bitmap list, which holds the directory last entry first
    for (io.qcow4j.disk.DirtyBitmap bitmap : source.dirtyBitmaps().reversed()) {
      if (!bitmap.consistent() && !skipBrokenBitmaps) {
        throw new CommandFailure("Cannot copy inconsistent bitmap '" + bitmap.name() + "'\n"
            + "Try --skip-broken-bitmaps, or use 'qemu-img bitmap --remove' to delete it", 1);
      }
    }
  }

  private static void checkTargetBitmaps(DiskFile target) throws IOException {
    if (!(target instanceof io.qcow4j.qcow2.QcowFile image) || image.info().qcow2().version() < 3) {
      throw new CommandFailure("Format driver '" + target.format().id() + "' does not support bitmaps", 1);
    }
  }

  /** qemu-img's convert_copy_bitmaps, once the copy is done: each bitmap added to the target and merged in. */
  private void copyBitmaps(DiskFile sourceDisk, ImageSpec targetSpec, Secrets secrets) throws IOException {
    io.qcow4j.qcow2.QcowFile source = (io.qcow4j.qcow2.QcowFile) sourceDisk;
    try (DiskFile opened = ImageArguments.open(targetSpec, OpenOptions.readWriteDefaults()
        .withBackingPolicy(io.qcow4j.disk.BackingPolicy.IGNORE), secrets, err)) {
      io.qcow4j.qcow2.QcowFile target = (io.qcow4j.qcow2.QcowFile) opened;
      // warned in QEMU's order (its list holds the directory last entry first); added in directory
      // order, which is the order QEMU's store writes them in
      for (io.qcow4j.disk.DirtyBitmap bitmap : source.dirtyBitmaps().reversed()) {
        if (!bitmap.consistent()) {
          err.println(QemuErrors.PREFIX + "warning: Skipping inconsistent bitmap '" + bitmap.name() + "'");
        }
      }
      err.flush();
      for (io.qcow4j.disk.DirtyBitmap bitmap : source.dirtyBitmaps()) {
        if (!bitmap.consistent()) {
          continue;
        }
        try {
          target.addBitmap(bitmap.name(), bitmap.granularity(), bitmap.enabled());
        } catch (IOException e) {
          throw new CommandFailure("Failed to create bitmap " + bitmap.name() + ": " + Failures.reason(e, null), 1, e);
        }
        try {
          target.mergeBitmap(bitmap.name(), source, bitmap.name());
        } catch (IOException e) {
          target.removeBitmap(bitmap.name());
          throw new CommandFailure("Failed to populate bitmap " + bitmap.name() + ": " + Failures.reason(e, null), 1,
              e);
        }
      }
    }
  }

  /** The new target's options: -o, -B and -F as img_convert checks them, then as the format checks them. */
  private CreateOptions createOptions(ImageFormat format, String optionList, long total, int sourceCount,
      String targetName, Secrets secrets) {
    OptionValues values;
    try {
      values = CreateOptionsReader.convertTarget(format, optionList, total, backing, backingFormat, sourceCount,
          compress);
    } catch (InvalidOptionException e) {
      throw new CommandFailure(e.getMessage(), 1, e);
    }
    try {
      CreateOptionsReader.reparseSizes(format, values);
      CreateOptions options = CreateOptionsReader.read(format, values, total);
      if (options.encryption() != null) {
        boolean qcow2 = format == ImageFormat.QCOW2;
        options = options.withEncryption(ImageCreate.withSecret(options.encryption(),
            values.string(qcow2 ? "encrypt.key-secret" : "key-secret"), qcow2 ? "encrypt." : "", secrets));
      }
      return options;
    } catch (IOException e) {
      throw new CommandFailure(targetName + ": error while converting " + format.id() + ": " + e.getMessage(), 1, e);
    }
  }

  /** A conversion step that may fail. */
  private interface Step {
    void run() throws IOException;
  }

  /** Runs the copy, turning failures into qemu-img's messages. */
  private void run(Step step, String targetName, ImageFormat format) {
    try {
      step.run();
    } catch (IOException e) {
      ImageConvert.RequestFailedException request = requestFailure(e);
      if (request == null) {
        throw failure(e, targetName, format);
      }
      // qemu-img's convert_co_do_copy: the failing request's start, and strerror of its errno
      throw new CommandFailure((request.direction() == ImageConvert.RequestFailedException.Direction.READ
          ? "error while reading at byte " : "error while writing at byte ") + request.offset() + ": "
          + Failures.requestReason(request.getCause(), null, err), 1, e);
    }
  }

  private static ImageConvert.RequestFailedException requestFailure(Throwable failure) {
    for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
      if (cause instanceof ImageConvert.RequestFailedException request) {
        return request;
      }
    }
    return null;
  }

  private static CommandFailure failure(IOException failure, String targetName, ImageFormat format) {
    return switch (failure) {
      case InvalidOptionException e -> new CommandFailure(e.getMessage(), 1, e);
      case ConvertTarget.ConvertException e when e.stage() == ConvertTarget.ConvertException.Stage.OPEN ->
          new CommandFailure("Could not open '" + targetName + "': " + Failures.reason(e.getCause(), targetName), 1, e);
      case ConvertTarget.ConvertException e -> new CommandFailure(e.stage() == ConvertTarget.ConvertException.Stage.CREATE
          ? targetName + ": error while converting " + format.id() + ": " + Failures.reason(e.getCause(), targetName)
          : "error while writing: " + Failures.reason(e.getCause(), targetName), 1, e);
      default -> new CommandFailure(Failures.reason(failure, null), 1, failure);
    };
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

  private long parseSparseBytes() {
    if (sparseSize == null) {
      return ImageConvert.DEFAULT_SPARSE_BYTES;
    }
    long bytes = SizeOption.parse("buffer size for sparse output", sparseSize);
    if (bytes % 512 != 0 || bytes > ImageConvert.MAX_SPARSE_BYTES) {
      throw new CommandFailure("Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 up to"
          + " 16777216. Select 0 to disable sparse detection (fully allocates output).", 1);
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
