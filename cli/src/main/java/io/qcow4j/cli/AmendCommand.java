package io.qcow4j.cli;

import io.qcow4j.disk.AmendOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** qemu-img amend: change the compat level, lazy refcounts, refcount width or size of a qcow2 image. */
@Command(
    name = "amend",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Amend the image format specific options of a qcow2 image, like qemu-img amend.")
final class AmendCommand implements Callable<Integer> {
  private static final Set<String> CREATION_ONLY = Set.of("cluster_size", "compression_type", "preallocation",
      "extended_l2", "encryption", "encrypt.format", "encrypt.key-secret", "encrypt.cipher-alg",
      "encrypt.cipher-mode", "encrypt.ivgen-alg", "encrypt.ivgen-hash-alg", "encrypt.hash-alg",
      "encrypt.iter-time");
  private static final String HELP = """
      Amend options for 'qcow2':
        backing_file=<str>     - File name of a base image
        backing_fmt=<str>      - Image format of the base image
        compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])
        data_file=<str>        - File name of an external data file
        data_file_raw=<bool (on/off)> - The external data file must stay valid as a raw image
        lazy_refcounts=<bool (on/off)> - Postpone refcount updates
        refcount_bits=<num>    - Width of a reference count entry in bits
        size=<size>            - Virtual disk size
      """;

  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = "-f", paramLabel = "FMT", description = "Image format (qcow2); probed when absent.")
  String format;

  @Option(names = "-o", paramLabel = "OPTIONS", description = "Comma-separated options to change (-o help lists them).")
  java.util.List<String> options = new java.util.ArrayList<>();

  @Option(names = {"-p", "--progress"}, description = "Show progress (accepted; amend here is quick).")
  boolean progress;

  @Option(names = {"-q", "--quiet"}, description = "Quiet mode.")
  boolean quiet;

  @Option(names = "--force", description = "Accepted for compatibility with qemu-img.")
  boolean force;

  @Mixin ImageOptsOption imageOpts;
  @Mixin ObjectOption objects;

  @Parameters(index = "0", paramLabel = "FILE", arity = "0..1", description = "The image to amend.")
  String file;

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    Secrets secrets = ImageArguments.secrets(objects.definitions, out);
    if (secrets == null) {
      return 0;
    }
    if (options.isEmpty()) {
      throw new CommandFailure("Must specify options (-o)", 1);
    }
    Map<String, String> values = parse(String.join(",", options));
    if (values.containsKey("help") || values.containsKey("?")) {
      out.print(HELP);
      out.flush();
      return 0;
    }
    if (file == null) {
      throw new CommandFailure("Expecting one image file name", 1);
    }
    ImageSpec image = ImageArguments.spec(file, imageOpts.enabled, format, false, ImageArguments.Tool.QEMU_IMG,
        spec.commandLine().getErr());
    ImageFormat imageFormat;
    try {
      imageFormat = image.format() != null ? image.format() : io.qcow4j.DiskImages.probe(image.path());
    } catch (IOException e) {
      throw ImageArguments.couldNotOpen(image, e);
    }
    if (imageFormat != ImageFormat.QCOW2) {
      throw new CommandFailure("Format driver '" + imageFormat.id() + "' does not support option amendment", 1);
    }
    AmendOptions amend = toAmendOptions(values);
    try (DiskFile disk = ImageArguments.open(image, OpenOptions.readWriteDefaults().withFormat(ImageFormat.QCOW2),
        secrets)) {
      ((QcowFile) disk).amend(amend);
    } catch (IOException e) {
      throw new CommandFailure(Failures.reason(e, file), 1, e);
    }
    if (progress && !quiet) {
      spec.commandLine().getErr().println("    (100.00/100%)");
    }
    return 0;
  }

  private AmendOptions toAmendOptions(Map<String, String> values) {
    AmendOptions amend = AmendOptions.none();
    for (Map.Entry<String, String> option : values.entrySet()) {
      String key = option.getKey();
      String value = option.getValue();
      if (CREATION_ONLY.contains(key)) {
        throw new CommandFailure("Invalid parameter '" + key + "': this option is only supported for image creation", 1);
      }
      amend = switch (key) {
        case "compat" -> amend.withCompat(value);
        case "lazy_refcounts" -> amend.withLazyRefcounts(onOff(key, value));
        case "refcount_bits" -> amend.withRefcountBits(number(key, value));
        case "size" -> amend.withSize(size(value));
        case "backing_file", "backing_fmt" ->
            throw new CommandFailure("Cannot amend the backing file; you can use 'qcow4j rebase' instead", 1);
        case "data_file", "data_file_raw" ->
            throw new CommandFailure("Changing the external data file (" + key + ") is not supported by amend", 1);
        default -> throw new CommandFailure("Invalid parameter '" + key + "'", 1);
      };
    }
    return amend;
  }

  /** Parses qemu's "key=value,key=value" option syntax (",," escapes a comma in a value). */
  static Map<String, String> parse(String text) {
    Map<String, String> values = new LinkedHashMap<>();
    StringBuilder current = new StringBuilder();
    java.util.List<String> parts = new java.util.ArrayList<>();
    for (int index = 0; index < text.length(); index++) {
      char c = text.charAt(index);
      if (c == ',' && index + 1 < text.length() && text.charAt(index + 1) == ',') {
        current.append(',');
        index++;
      } else if (c == ',') {
        parts.add(current.toString());
        current.setLength(0);
      } else {
        current.append(c);
      }
    }
    parts.add(current.toString());
    for (String part : parts) {
      if (part.isEmpty()) {
        continue;
      }
      int equals = part.indexOf('=');
      values.put(equals < 0 ? part : part.substring(0, equals), equals < 0 ? "" : part.substring(equals + 1));
    }
    return values;
  }

  private static boolean onOff(String key, String value) {
    return switch (value) {
      case "on", "yes", "true" -> true;
      case "off", "no", "false" -> false;
      default -> throw new CommandFailure("Parameter '" + key + "' expects 'on' or 'off'", 1);
    };
  }

  private static int number(String key, String value) {
    try {
      return Integer.parseInt(value);
    } catch (NumberFormatException e) {
      throw new CommandFailure("Parameter '" + key + "' expects a number", 1);
    }
  }

  private static long size(String value) {
    try {
      return QemuNumbers.parseSize(value);
    } catch (QemuNumbers.SizeFormatException e) {
      throw new CommandFailure("Parameter 'size' expects a size", 1);
    }
  }
}
