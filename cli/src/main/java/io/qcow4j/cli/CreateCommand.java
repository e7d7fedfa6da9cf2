package io.qcow4j.cli;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
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
 * qemu-img create: a new raw or qcow2 image, with qemu-img's checks in its order, its "Formatting"
 * line on stdout and its messages (prefixed by the file name) for what it refuses.
 */
@Command(
    name = "create",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Create a new disk image, like qemu-img create (-o help lists the options).")
final class CreateCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = "-f", paramLabel = "FMT", defaultValue = "raw", description = "Image format: qcow2 or raw (default: ${DEFAULT-VALUE}).")
  String format;

  @Option(names = "-o", paramLabel = "OPTIONS", description = "Creation options, key=value,... (-o help lists them); may repeat.")
  List<String> optionLists = new ArrayList<>();

  @Option(names = "-b", paramLabel = "BACKING", description = "Backing file (needs -F).")
  String backingFile;

  @Option(names = "-F", paramLabel = "BACKING_FMT", description = "Format of the backing file (raw, qcow2).")
  String backingFormat;

  @Option(names = "-u", description = "Do not open the backing file (a size must then be given).")
  boolean unsafe;

  @Option(names = {"-q", "--quiet"}, description = "Quiet mode: no \"Formatting\" line.")
  boolean quiet;

  @Mixin ObjectOption objects;

  @Parameters(paramLabel = "FILE [SIZE]", arity = "0..*", description = "The new image and its size (k, M, G, T suffixes).")
  List<String> arguments = new ArrayList<>();

  @Override
  public Integer call() throws Exception {
    return QemuErrors.run(spec, this::createImage);
  }

  private int createImage() {
    // the secrets are checked as qemu-img defines them; no image qcow4j creates is encrypted
    if (ImageArguments.secrets(objects.definitions, spec.commandLine().getOut()) == null) {
      return 0;
    }
    for (String list : optionLists) {
      if (!CreationOptions.isValidList(list)) {
        throw new CommandFailure("Invalid option list: " + list, 1);
      }
    }
    String joined = optionLists.isEmpty() ? null : String.join(",", optionLists);
    String filename = arguments.isEmpty() ? null : arguments.getFirst();
    if (joined != null && CreationOptions.wantsHelp(joined)) {
      spec.commandLine().getOut().print(CreationOptions.help(imageFormat(null), filename));
      return 0;
    }
    if (filename == null) {
      throw QemuErrors.usage("Expecting image file name");
    }
    long size = -1;
    if (arguments.size() > 1) {
      size = imageSize(arguments.get(1));
    }
    if (arguments.size() > 2) {
      throw QemuErrors.usage("Unexpected argument: " + arguments.get(2));
    }
    try {
      create(filename, joined, size);
    } catch (CreationOptions.InvalidOption e) {
      throw new CommandFailure(filename + ": " + e.getMessage(), 1, e);
    }
    return 0;
  }

  /** bdrv_img_create: the options, the backing file, the size, the "Formatting" line, then the image. */
  private void create(String filename, String optionList, long sizeArgument) throws CreationOptions.InvalidOption {
    ImageFormat imageFormat = imageFormat(filename);
    CreationOptions options = CreationOptions.forFormat(imageFormat);
    if (optionList != null) {
      options.parse(optionList);
    }
    long size = sizeArgument;
    if (!options.has("size")) {
      if (size >= 0) {
        options.setSize(size);
      }
    } else if (size >= 0) {
      throw new CreationOptions.InvalidOption("The image size must be specified only once");
    } else {
      size = options.number("size", -1);
    }
    if (backingFile != null) {
      if (!options.accepts("backing_file")) {
        throw new CreationOptions.InvalidOption("Backing file not supported for file format '" + format + "'");
      }
      options.set("backing_file", backingFile);
    }
    if (backingFormat != null) {
      if (!options.accepts("backing_fmt")) {
        throw new CreationOptions.InvalidOption("Backing file format not supported for file format '" + format + "'");
      }
      options.set("backing_fmt", backingFormat);
    }
    String backing = options.get("backing_file");
    if (backing != null) {
      if (backing.equals(filename)) {
        throw new CreationOptions.InvalidOption("Error: Trying to create an image with the same filename as the backing file");
      }
      if (backing.isEmpty()) {
        throw new CreationOptions.InvalidOption("Expected backing file name, got empty string");
      }
    }
    String backingFmt = options.get("backing_fmt");
    if (backing != null && !unsafe) {
      long backingSize = openBacking(filename, backing, backingFmt);
      if (size < 0) {
        size = backingSize;
        options.setSize(size);
      }
    } else if (backing != null && backingFmt == null) {
      throw new CreationOptions.InvalidOption("Backing file specified without backing format");
    }
    if (size < 0) {
      throw new CreationOptions.InvalidOption("Image creation needs a size parameter");
    }
    if (!quiet) {
      spec.commandLine().getOut().println("Formatting '" + filename + "', fmt=" + format + " " + options.dump());
      spec.commandLine().getOut().flush();
    }
    Path path = Path.of(filename);
    try {
      if (imageFormat == ImageFormat.QCOW2) {
        CreateOptions engineOptions = options.toQcow2(size);
        QcowFile.createUnsafe(path, engineOptions);
      } else {
        CreateOptions engineOptions = options.toRaw(size);
        DiskImages.create(path, ImageFormat.RAW, engineOptions).close();
      }
    } catch (IOException | RuntimeException e) {
      throw new CommandFailure(filename + ": " + Failures.reason(e, filename), 1, e);
    }
  }

  /**
   * Opens the backing file as qemu-img create does to check it and learn its size: its name
   * relative to the new image's directory, its format as given. Returns its size.
   */
  private long openBacking(String filename, String backing, String backingFmt) throws CreationOptions.InvalidOption {
    String fullBacking = fullBackingName(filename, backing);
    ImageFormat backingImageFormat = null;
    if (backingFmt != null) {
      backingImageFormat = switch (backingFmt) {
        case "raw" -> ImageFormat.RAW;
        case "qcow2" -> ImageFormat.QCOW2;
        default -> throw new CreationOptions.InvalidOption(backingDriverMessage(backingFmt) + "\nCould not open backing image.");
      };
    }
    try (DiskFile opened = DiskImages.open(Path.of(fullBacking), OpenOptions.readOnlyDefaults().withFormat(backingImageFormat))) {
      if (backingFmt == null) {
        throw new CreationOptions.InvalidOption("Backing file specified without backing format\nDetected format of "
            + opened.format().id() + ".");
      }
      return opened.size();
    } catch (IOException | RuntimeException e) {
      throw new CreationOptions.InvalidOption("Could not open '" + fullBacking + "': " + Failures.reason(e, fullBacking)
          + "\nCould not open backing image.");
    }
  }

  private static String backingDriverMessage(String backingFmt) {
    try {
      CreationOptions.parseFormat(backingFmt);
      return "Unknown driver '" + backingFmt + "'";
    } catch (CreationOptions.InvalidOption e) {
      return e.getMessage().startsWith("Unknown") ? "Unknown driver '" + backingFmt + "'" : e.getMessage();
    }
  }

  /** bdrv_get_full_backing_filename_from_filename: relative names are taken from the image's directory. */
  static String fullBackingName(String filename, String backing) {
    if (backing.startsWith("/")) {
      return backing;
    }
    int slash = filename.lastIndexOf('/');
    return slash < 0 ? backing : filename.substring(0, slash + 1) + backing;
  }

  private ImageFormat imageFormat(String filename) {
    try {
      return CreationOptions.parseFormat(format);
    } catch (CreationOptions.InvalidOption e) {
      throw new CommandFailure(filename != null ? filename + ": " + e.getMessage() : e.getMessage(), 1, e);
    }
  }

  /** qemu-img's cvtnum("image size"): 0 up to 2^63 - 1, with its two messages. */
  static long imageSize(String text) {
    try {
      return QemuNumbers.parseSize(text);
    } catch (QemuNumbers.SizeFormatException e) {
      if (e.tooLarge()) {
        throw new CommandFailure("Invalid image size specified. Must be between 0 and 9223372036854775807.", 1, e);
      }
      throw new CommandFailure("Invalid image size specified. You may use k, M, G, T, P or E suffixes for\n"
          + QemuErrors.PREFIX + "kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.", 1, e);
    }
  }
}
