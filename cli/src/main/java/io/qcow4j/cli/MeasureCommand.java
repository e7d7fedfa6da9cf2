package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.ops.ImageMeasure;
import io.qcow4j.options.FormatNames;
import io.qcow4j.options.MeasureOptionsReader;
import io.qcow4j.options.OptionLists;
import io.qcow4j.options.OptionValues;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.internal.spec.QDict;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** qemu-img measure: the file size a new raw or qcow2 image needs, for a size or for an image's content. */
@Command(
    name = "measure",
    mixinStandardHelpOptions = true,
    versionProvider = PicocliCommands.Version.class,
    description = "Calculate the file size required for a new image (required and fully allocated), like qemu-img measure.")
final class MeasureCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = "--output", paramLabel = "human|json", defaultValue = "human", description = "Output format (default: ${DEFAULT-VALUE}).")
  String output;

  @Option(names = "-O", paramLabel = "OUTPUT_FMT", defaultValue = "raw", description = "Format of the image to measure for (raw, qcow2; default: ${DEFAULT-VALUE}).")
  String outputFormat;

  @Option(names = "-o", paramLabel = "OPTIONS", description = "Creation options of the new image (cluster_size, compat, refcount_bits, extended_l2, preallocation, backing_file...).")
  List<String> options;

  @Option(names = "--size", paramLabel = "N", description = "Virtual size of an empty new image (k, M, G, T, P, E suffixes).")
  String size;

  @Option(names = "-f", paramLabel = "FMT", description = "Format of FILE (raw, qcow2); probed when absent.")
  String format;

  @Option(names = "-l", paramLabel = "SNAPSHOT_PARAM",
      description = "An internal snapshot to measure (snapshot.id=ID,snapshot.name=NAME or ID_OR_NAME).")
  String snapshot;

  @Option(names = "--image-opts", description = "FILE is an option string: driver=qcow2,file.filename=PATH,...")
  boolean imageOpts;

  @Option(names = "--object", paramLabel = "OBJECTDEF",
      description = "Define a secret: secret,id=ID,data=TEXT|file=PATH[,format=raw|base64][,keyid=ID,iv=IV].")
  List<String> objects;

  @Option(names = {"-U", "--force-share"}, description = "Open with force-share: read while others may write.")
  boolean forceShare;

  @Parameters(arity = "0..1", paramLabel = "FILE", description = "The image whose content the new image would hold.")
  String file;

  @Override
  public Integer call() throws Exception {
    return QemuErrors.run(spec, this::measure);
  }

  private int measure() {
    Secrets secrets = ImageArguments.secrets(objects, spec.commandLine().getOut());
    if (secrets == null) {
      return 0;
    }
    ImageArguments.checkSnapshotParameter(snapshot);
    String optionList = QemuOpts.accumulate(options);
    OutputFormat printAs = OutputFormat.parse(output);
    long sizeBytes = size == null ? -1 : CreateCommand.imageSize(size);
    if (file != null && size != null) {
      throw new CommandFailure("--size N cannot be used together with a filename.", 1);
    }
    if (file == null && (imageOpts || format != null || snapshot != null)) {
      throw new CommandFailure("--image-opts, -f, and -l require a filename argument.", 1);
    }
    if (file == null && size == null) {
      throw new CommandFailure("Either --size N or one filename must be specified.", 1);
    }
    DiskFile source = null;
    if (file != null) {
      ImageSpec image = ImageArguments.spec(file, imageOpts, format, forceShare, ImageArguments.Tool.QEMU_IMG,
          spec.commandLine().getErr());
      source = ImageArguments.open(image, OpenOptions.readOnlyDefaults()
          .withSnapshot(ImageArguments.snapshotSelector(snapshot)), secrets, spec.commandLine().getErr());
    }
    try {
      ImageMeasure.Measurement measurement = measure(source, optionList, sizeBytes);
      print(measurement, printAs);
      return 0;
    } catch (InvalidOptionException | ImageLimitException e) {
      throw new CommandFailure(e.getMessage(), 1, e);
    } catch (IOException e) {
      throw new CommandFailure((file != null ? file + ": " : "") + Failures.reason(e, file), 1, e);
    } finally {
      if (source != null) {
        try {
          source.close();
        } catch (IOException e) {
          // a read-only source that fails to close changes nothing
        }
      }
    }
  }

  /** img_measure: the -O format, the -o list read for it (and the file protocol), then the format's own reading. */
  private ImageMeasure.Measurement measure(DiskFile source, String optionList, long sizeBytes) throws IOException {
    ImageFormat format = FormatNames.measuredFormat(outputFormat);
    OptionValues values;
    try {
      values = OptionValues.parse(OptionLists.createOnFile(format), optionList);
    } catch (InvalidOptionException e) {
      throw new InvalidOptionException(e.getMessage() + "\n" + QemuErrors.PREFIX + "Invalid options for file format '"
          + outputFormat + "'");
    }
    if (format == ImageFormat.RAW) {
      return ImageMeasure.raw(MeasureOptionsReader.raw(values, sizeBytes), source);
    }
    return ImageMeasure.qcow2(MeasureOptionsReader.qcow2(values, sizeBytes), source);
  }

  private void print(ImageMeasure.Measurement measurement, OutputFormat printAs) {
    PrintWriter out = spec.commandLine().getOut();
    if (printAs == OutputFormat.JSON) {
      QDict dict = new QDict();
      if (measurement.bitmaps().isPresent()) {
        dict.put("bitmaps", measurement.bitmaps().getAsLong());
      }
      dict.put("required", measurement.required());
      dict.put("fully-allocated", measurement.fullyAllocated());
      out.println(dict.toPrettyJson());
    } else {
      out.println("required size: " + Long.toUnsignedString(measurement.required()));
      out.println("fully allocated size: " + Long.toUnsignedString(measurement.fullyAllocated()));
      if (measurement.bitmaps().isPresent()) {
        out.println("bitmaps size: " + measurement.bitmaps().getAsLong());
      }
    }
    out.flush();
  }
}
