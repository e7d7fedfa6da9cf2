package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.InvalidOptionException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.internal.spec.QDict;
import io.qcow4j.ops.ImageCreate;
import io.qcow4j.ops.ImageMeasure;
import io.qcow4j.options.FormatNames;
import io.qcow4j.options.MeasureOptionsReader;
import io.qcow4j.options.OptionLists;
import io.qcow4j.options.OptionValues;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** qemu-img measure: the file size a new raw or qcow2 image needs, for a size or for an image's content. */
final class MeasureCommand implements Callable<Integer> {
  private final PrintWriter out;
  private final PrintWriter err;
  String output = "human";
  String outputFormat = "raw";
  final List<String> options = new ArrayList<>();
  String size;
  /** --size in bytes, parsed as it came. */
  long sizeBytes;
  String format;
  String snapshot;
  boolean imageOpts;
  final List<String> objects = new ArrayList<>();
  boolean forceShare;
  String file;

  private MeasureCommand(Invocation invocation) {
    this.out = invocation.out();
    this.err = invocation.err();
  }

  /**
   * Parses the command's words as qemu-img's img_measure does (getopt prints its own complaint,
   * then the help), then runs it; the exit status.
   */
  static int main(Invocation invocation) {
    MeasureCommand command = new MeasureCommand(invocation);
    Getopt getopt = invocation.getopt("hf:O:o:l:U", List.of(
        Getopt.LongOption.flag("help", 'h'),
        Getopt.LongOption.flag("image-opts", Invocation.IMAGE_OPTS),
        Getopt.LongOption.withArgument("object", Invocation.OBJECT),
        Getopt.LongOption.withArgument("output", Invocation.OUTPUT),
        Getopt.LongOption.withArgument("size", Invocation.SIZE),
        Getopt.LongOption.flag("force-share", 'U')));
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      switch (option) {
        case 'h', Getopt.UNKNOWN -> {
          return invocation.help();
        }
        case 'f' -> command.format = getopt.optarg();
        case 'O' -> command.outputFormat = getopt.optarg();
        case 'o' -> {
          command.options.add(getopt.optarg());
          if (!invocation.valid(() -> QemuOpts.accumulate(command.options))) {
            return 1;
          }
        }
        case 'l' -> command.snapshot = getopt.optarg();
        case 'U' -> command.forceShare = true;
        case Invocation.OBJECT -> {
          if (!invocation.defineObject(command.objects, getopt.optarg())) {
            return invocation.objectStatus(1);
          }
        }
        case Invocation.IMAGE_OPTS -> command.imageOpts = true;
        case Invocation.OUTPUT -> {
          command.output = getopt.optarg();
          if (!invocation.valid(() -> OutputFormat.parse(command.output))) {
            return 1;
          }
        }
        case Invocation.SIZE -> {
          command.size = getopt.optarg();
          if (!invocation.valid(() -> command.sizeBytes = CreateCommand.imageSize(command.size))) {
            return 1;
          }
        }
        default -> invocation.commonOption(getopt, option);
      }
    }
    List<String> operands = getopt.operands();
    if (operands.size() > 1) {
      return invocation.error("At most one filename argument is allowed.");
    }
    command.file = operands.isEmpty() ? null : operands.getFirst();
    return invocation.executeQemuStyle(command);
  }

  @Override
  public Integer call() throws Exception {
    return measure();
  }

  private int measure() {
    Secrets secrets = ImageArguments.secrets(objects, out);
    if (secrets == null) {
      return 0;
    }
    ImageArguments.checkSnapshotParameter(snapshot);
    String optionList = QemuOpts.accumulate(options);
    OutputFormat printAs = OutputFormat.parse(output);
    // parsed once, as the option came (qemu_strtosz warns each time it parses)
    long sizeBytes = size == null ? -1 : this.sizeBytes;
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
      ImageSpec image = ImageArguments.spec(file, imageOpts, format, forceShare, ImageArguments.Tool.QEMU_IMG, err);
      source = ImageArguments.open(image, OpenOptions.readOnlyDefaults()
          .withSnapshot(ImageArguments.snapshotSelector(snapshot)), secrets, err);
    }
    try {
      ImageMeasure.Measurement measurement = measure(source, optionList, sizeBytes, secrets);
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
  private ImageMeasure.Measurement measure(DiskFile source, String optionList, long sizeBytes, Secrets secrets)
      throws IOException {
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
    io.qcow4j.disk.CreateOptions options = MeasureOptionsReader.qcow2(values, sizeBytes);
    if (options.encryption() != null) {
      // QEMU makes a LUKS header to measure it: the options and the secret are checked as for create
      ImageCreate.withSecret(options.encryption(), values.string("encrypt.key-secret"), "encrypt.", secrets).clear();
    }
    return ImageMeasure.qcow2(options, source);
  }

  private void print(ImageMeasure.Measurement measurement, OutputFormat printAs) {
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
