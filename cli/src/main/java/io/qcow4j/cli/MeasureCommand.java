package io.qcow4j.cli;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.Preallocation;
import io.qcow4j.ops.ImageMeasure;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.QDict;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
    versionProvider = Main.Version.class,
    description = "Calculate the file size required for a new image (required and fully allocated), like qemu-img measure.")
final class MeasureCommand implements Callable<Integer> {
  /** qcow2's creation options and the file protocol's, which qemu-img measure accepts alike. */
  private static final Map<String, QemuOpts.Kind> QCOW2_OPTIONS = Map.ofEntries(
      Map.entry("size", QemuOpts.Kind.SIZE), Map.entry("compat", QemuOpts.Kind.STRING),
      Map.entry("backing_file", QemuOpts.Kind.STRING), Map.entry("backing_fmt", QemuOpts.Kind.STRING),
      Map.entry("encryption", QemuOpts.Kind.BOOL), Map.entry("encrypt.format", QemuOpts.Kind.STRING),
      Map.entry("encrypt.key-secret", QemuOpts.Kind.STRING), Map.entry("encrypt.cipher-alg", QemuOpts.Kind.STRING),
      Map.entry("encrypt.cipher-mode", QemuOpts.Kind.STRING), Map.entry("encrypt.ivgen-alg", QemuOpts.Kind.STRING),
      Map.entry("encrypt.ivgen-hash-alg", QemuOpts.Kind.STRING), Map.entry("encrypt.hash-alg", QemuOpts.Kind.STRING),
      Map.entry("encrypt.iter-time", QemuOpts.Kind.NUMBER), Map.entry("cluster_size", QemuOpts.Kind.SIZE),
      Map.entry("preallocation", QemuOpts.Kind.STRING), Map.entry("lazy_refcounts", QemuOpts.Kind.BOOL),
      Map.entry("refcount_bits", QemuOpts.Kind.NUMBER), Map.entry("compression_type", QemuOpts.Kind.STRING),
      Map.entry("extended_l2", QemuOpts.Kind.BOOL), Map.entry("data_file", QemuOpts.Kind.STRING),
      Map.entry("data_file_raw", QemuOpts.Kind.BOOL), Map.entry("nocow", QemuOpts.Kind.BOOL),
      Map.entry("extent_size_hint", QemuOpts.Kind.SIZE));
  private static final Map<String, QemuOpts.Kind> RAW_OPTIONS = Map.of("size", QemuOpts.Kind.SIZE,
      "preallocation", QemuOpts.Kind.STRING, "nocow", QemuOpts.Kind.BOOL, "extent_size_hint", QemuOpts.Kind.SIZE);
  /** Formats QEMU knows but qcow4j cannot measure. */
  private static final Set<String> OTHER_QEMU_FORMATS = Set.of("blkdebug", "blklogwrites", "blkverify", "bochs",
      "cloop", "compress", "copy-before-write", "copy-on-read", "dmg", "file", "ftp", "ftps", "gluster",
      "host_cdrom", "host_device", "http", "https", "iscsi", "iser", "luks", "nbd", "nfs", "null-aio", "null-co",
      "nvme", "parallels", "preallocate", "qcow", "qed", "quorum", "rbd", "replication", "snapshot-access", "ssh",
      "throttle", "vdi", "vhdx", "vmdk", "vpc", "vvfat");
  private static final int MIN_CLUSTER_SIZE = 512;
  private static final int MAX_CLUSTER_SIZE = 2 << 20;

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
      description = "An internal snapshot to measure (snapshot.id=ID,snapshot.name=NAME or ID_OR_NAME): not supported yet.")
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
  public Integer call() {
    Secrets secrets = ImageArguments.secrets(objects, spec.commandLine().getOut());
    if (secrets == null) {
      return 0;
    }
    ImageArguments.checkSnapshotParameter(snapshot);
    OutputFormat printAs = OutputFormat.parse(output);
    long sizeBytes = size == null ? -1 : imageSize(size);
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
      source = ImageArguments.open(image, OpenOptions.readOnlyDefaults(), secrets);
      if (snapshot != null) {
        try (DiskFile opened = source) {
          ImageArguments.refuseSnapshot(snapshot, "-l");
        } catch (IOException e) {
          // refused all the same
        }
      }
    }
    try {
      ImageMeasure.Measurement measurement = measure(source, sizeBytes);
      print(measurement, printAs);
      return 0;
    } catch (ImageLimitException e) {
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

  private ImageMeasure.Measurement measure(DiskFile source, long sizeBytes) throws IOException {
    switch (outputFormat) {
      case "raw" -> {
        QemuOpts opts = QemuOpts.parse("raw", options, RAW_OPTIONS);
        long bytes = sizeBytes >= 0 ? sizeBytes : opts.size("size", 0);
        return ImageMeasure.raw(bytes, source);
      }
      case "qcow2" -> {
        QemuOpts opts = QemuOpts.parse("qcow2", options, QCOW2_OPTIONS);
        return ImageMeasure.qcow2(qcow2Options(opts, sizeBytes), source);
      }
      default -> throw new CommandFailure(OTHER_QEMU_FORMATS.contains(outputFormat)
          ? "Block driver '" + outputFormat + "' does not support size measurement (qcow4j measures raw and qcow2)"
          : "Unknown file format '" + outputFormat + "'", 1);
    }
  }

  /** The qcow2 options in the order qcow2_measure reads and checks them, with its messages. */
  private static CreateOptions qcow2Options(QemuOpts opts, long sizeBytes) {
    boolean extendedL2 = opts.bool("extended_l2", false);
    long clusterSize = opts.size("cluster_size", 65536);
    if (clusterSize < MIN_CLUSTER_SIZE || clusterSize > MAX_CLUSTER_SIZE || Long.bitCount(clusterSize) != 1) {
      throw new CommandFailure("Cluster size must be a power of two between 512 and 2048k", 1);
    }
    if (extendedL2 && clusterSize < 16384) {
      throw new CommandFailure("Extended L2 entries are only supported with cluster sizes of at least 16384 bytes", 1);
    }
    String compat = opts.string("compat");
    if (compat != null && !compat.equals("0.10") && !compat.equals("1.1")) {
      throw new CommandFailure("Invalid compatibility level: '" + compat + "'", 1);
    }
    boolean v2 = "0.10".equals(compat);
    long refcountBits = opts.number("refcount_bits", 16);
    if (refcountBits <= 0 || refcountBits > 64 || Long.bitCount(refcountBits) != 1) {
      throw new CommandFailure("Refcount width must be a power of two and may not exceed 64 bits", 1);
    }
    if (v2 && refcountBits != 16) {
      throw new CommandFailure("Different refcount widths than 16 bits require compatibility level 1.1 or above"
          + " (use compat=1.1 or greater)", 1);
    }
    Preallocation preallocation = Preallocation.OFF;
    String mode = opts.string("preallocation");
    if (mode != null) {
      try {
        preallocation = Preallocation.parse(mode);
      } catch (io.qcow4j.disk.UnsupportedFeatureException e) {
        throw new CommandFailure("invalid parameter value: " + mode, 1, e);
      }
    }
    if ("luks".equals(opts.string("encrypt.format"))) {
      throw new CommandFailure("encrypt.format=luks: encrypted images are not supported", 1);
    }
    long bytes = sizeBytes >= 0 ? sizeBytes : opts.size("size", 0);
    return CreateOptions.of(bytes)
        .withClusterSize((int) clusterSize)
        .withCompat(v2 ? "0.10" : "1.1")
        .withRefcountBits((int) refcountBits)
        .withExtendedL2(extendedL2)
        .withPreallocation(preallocation)
        .withBacking(opts.string("backing_file"), opts.string("backing_fmt"));
  }

  /** qemu-img's cvtnum("image size"): 0 to INT64_MAX with suffixes. */
  private static long imageSize(String text) {
    try {
      return QemuNumbers.parseSize(text);
    } catch (QemuNumbers.SizeFormatException e) {
      if (e.tooLarge()) {
        throw new CommandFailure("Invalid image size specified. Must be between 0 and 9223372036854775807.", 1, e);
      }
      throw new CommandFailure("Invalid image size specified. You may use k, M, G, T, P or E suffixes for"
          + " kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.", 1, e);
    }
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
