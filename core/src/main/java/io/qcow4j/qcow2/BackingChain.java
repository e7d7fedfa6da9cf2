package io.qcow4j.qcow2;

import io.qcow4j.disk.BackingNames;
import io.qcow4j.disk.BackingPolicy;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.RawDiskFile;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.formats.ReadOnlyFormats;
import io.qcow4j.internal.storage.LockRequest;
import io.qcow4j.internal.storagenodes.StorageNodes;
import io.qcow4j.probe.FormatProber;
import io.qcow4j.spec.FormatOptions;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.ImageSpecException;
import io.qcow4j.spec.Secrets;
import io.qcow4j.storage.Storage;
import io.qcow4j.vmdk.VmdkFile;
import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/** Resolves and opens the backing file an image names, guarding the depth and against loops. */
final class BackingChain {
  private BackingChain() {}

  /** Where a backing name points: absolute as is, relative to the directory of the overlay. */
  static Path resolve(Path overlay, String backingName) throws IOException {
    String name = backingName.startsWith("file:") ? backingName.substring("file:".length()) : backingName;
    if (name.startsWith("json:") || name.contains("://")) {
      throw new UnsupportedFeatureException(name(overlay) + ": backing file '" + backingName
          + "' uses a protocol or JSON description, which is not supported (only local files are)");
    }
    Path path;
    try {
      path = Path.of(name);
    } catch (java.nio.file.InvalidPathException e) {
      throw new CorruptImageException(name(overlay) + ": backing file name '" + backingName.replace("\0", "\\0")
          + "' is not a valid path: " + e.getReason());
    }
    // relative to the overlay's name as given, like QEMU's path_combine, so that names reported
    // for backing files (map's File column) match qemu-img's
    return path.isAbsolute() || overlay == null ? path : Path.of(BackingNames.fullName(overlay.toString(), name));
  }

  /** Opens the backing file of {@code overlay} read-only, at {@code depth} (1 for the first backing). */
  static DiskFile open(Path overlay, String backingName, String backingFormat, OpenOptions options, int depth,
      Set<Path> seen) throws IOException {
    return open(overlay, backingName, backingFormat, options, depth, seen, LayerOverrides.NONE);
  }

  /**
   * As {@link #open(Path, String, String, OpenOptions, int, Set)}, with the backing file as the
   * overlay's spec describes it ("backing.*"), whose failures QEMU reports after "Could not open
   * backing file: ".
   */
  static DiskFile open(Path overlay, String backingName, String backingFormat, OpenOptions options, int depth,
      Set<Path> seen, LayerOverrides overrides) throws IOException {
    if (overrides.options().backing() instanceof FormatOptions.Override override) {
      try {
        return openSpec(overlay, backingName, backingFormat, options, depth, seen, override.spec(),
            overrides.secrets());
      } catch (ImageSpecException e) {
        throw e.prefixed("Could not open backing file: ");
      }
    }
    if (options.backingPolicy() == BackingPolicy.REFUSE) {
      throw new UnsupportedFeatureException(name(overlay) + ": image has a backing file ('" + backingName
          + "') and the backing policy refuses backing files");
    }
    if (backingName.startsWith("json:")) {
      return openJson(overlay, backingName, backingFormat, options, depth, seen, overrides.secrets());
    }
    if (depth > options.maxChainDepth()) {
      throw new ImageLimitException(name(overlay) + ": backing chain is deeper than the limit of "
          + options.maxChainDepth() + " backing files (at '" + backingName + "')");
    }
    Path path = resolve(overlay, backingName);
    Path real;
    try {
      real = path.toRealPath();
    } catch (NoSuchFileException e) {
      // in QEMU's words, which name the backing file as joined to the overlay's directory
      FileSystemException missing = new FileSystemException(path.toString(), null,
          "Could not open backing file: Could not open '" + path + "': No such file or directory");
      missing.initCause(e);
      throw missing;
    }
    Set<Path> chain = new HashSet<>(seen);
    if (!chain.add(real)) {
      throw new CorruptImageException(name(overlay) + ": backing chain loops: '" + backingName
          + "' is already in the chain above it");
    }
    ImageFormat format = backingFormat == null ? ImageFormat.probe(path) : recordedFormat(path, backingFormat);
    OpenOptions backingOptions = LockRequest.forBacking(options);
    return switch (format) {
      case QCOW2 -> QcowFile.openLayer(path, backingOptions, depth, chain);
      case RAW -> backingFormat == null ? RawDiskFile.openProbed(path, backingOptions)
          : RawDiskFile.open(path, backingOptions);
      case VMDK -> VmdkFile.open(path, backingOptions, depth, chain);
      default -> ReadOnlyFormats.open(format, path, backingOptions, depth, chain);
    };
  }

  /**
   * Opens a backing file from its spec: its own file and format where it names them, else those
   * the overlay's header records (the name resolved against the overlay, as always).
   */
  private static DiskFile openSpec(Path overlay, String backingName, String backingFormat, OpenOptions options,
      int depth, Set<Path> seen, ImageSpec spec, Secrets secrets) throws IOException {
    if (spec.filename() == null && backingName == null) {
      throw new ImageSpecException(spec.format() != null ? "A block device must be specified for \"file\""
          : "Must specify either driver or file");
    }
    if (options.backingPolicy() == BackingPolicy.REFUSE) {
      throw new UnsupportedFeatureException(name(overlay) + ": image has a backing file and the backing policy"
          + " refuses backing files");
    }
    if (depth > options.maxChainDepth()) {
      throw new ImageLimitException(name(overlay) + ": backing chain is deeper than the limit of "
          + options.maxChainDepth() + " backing files");
    }
    Path path = spec.filename() != null ? spec.path() : resolve(overlay, backingName);
    Set<Path> chain = new HashSet<>(seen);
    if (!chain.add(path.toRealPath())) {
      throw new CorruptImageException(name(overlay) + ": backing chain loops: '" + path
          + "' is already in the chain above it");
    }
    ImageFormat format = spec.format() != null ? spec.format()
        : backingFormat != null ? recordedFormat(path, backingFormat) : ImageFormat.probe(path);
    boolean probed = spec.format() == null && backingFormat == null;
    // a backing file is only ever read, whatever read-only its spec sets
    OpenOptions backingOptions = spec.openOptions(LockRequest.forBacking(options)).withReadOnly(true);
    FormatOptions formatOptions = spec.formatOptions(format);
    if (formatOptions.cacheBytes() != null) {
      backingOptions = backingOptions.withCacheBytes(formatOptions.cacheBytes());
    }
    return switch (format) {
      case QCOW2 -> QcowFile.openLayer(path, backingOptions, depth, chain, new LayerOverrides(formatOptions, secrets));
      case RAW -> probed ? RawDiskFile.openProbed(path, backingOptions) : RawDiskFile.open(path, backingOptions);
      case VMDK -> VmdkFile.open(path, backingOptions, depth, chain);
      default -> ReadOnlyFormats.open(format, path, backingOptions, depth, chain);
    };
  }

  /**
   * A backing file named "json:{...}" (QEMU's JSON pseudo-protocol): its nodes as the JSON describes
   * them, the recorded format where the JSON names none; not joined to the overlay's directory.
   */
  private static DiskFile openJson(Path overlay, String backingName, String backingFormat, OpenOptions options,
      int depth, Set<Path> seen, Secrets secrets) throws IOException {
    if (depth > options.maxChainDepth()) {
      throw new ImageLimitException(name(overlay) + ": backing chain is deeper than the limit of "
          + options.maxChainDepth() + " backing files");
    }
    ImageSpec spec = ImageSpec.parseWithDriver(backingName, null);
    if (backingFormat != null && spec.node() == null) {
      spec = spec.withDefaultFormat(ImageFormat.parse(backingFormat));
    }
    if (spec.overPlainFile() && spec.filename() != null) {
      return openSpec(overlay, null, null, options, depth, seen, spec, secrets);
    }
    OpenOptions backingOptions = spec.openOptions(LockRequest.forBacking(options)).withReadOnly(true);
    if (spec.node() != null) {
      Storage storage = StorageNodes.storage(spec.node(), backingOptions, StorageNodes.DiskNodes.NONE);
      return new RawDiskFile(storage, StorageNodes.bottomPath(spec.node()));
    }
    Path path = StorageNodes.bottomPath(spec.file());
    Set<Path> chain = new HashSet<>(seen);
    if (path != null && Files.exists(path) && !chain.add(path.toRealPath())) {
      throw new CorruptImageException(name(overlay) + ": backing chain loops: '" + path
          + "' is already in the chain above it");
    }
    Storage storage = StorageNodes.storage(spec.file(), backingOptions, StorageNodes.DiskNodes.NONE);
    try {
      ImageFormat format = spec.format() != null ? spec.format() : probe(storage, path);
      FormatOptions formatOptions = spec.formatOptions(format);
      return switch (format) {
        case QCOW2 -> ImageOpener.openLayerOn(storage, path, backingOptions, depth, chain,
            new LayerOverrides(formatOptions, secrets));
        case RAW -> new RawDiskFile(StorageNodes.window(storage, formatOptions), path);
        default -> throw new UnsupportedFeatureException("qcow4j opens " + format.id()
            + " backing files only over a plain file");
      };
    } catch (IOException | RuntimeException e) {
      try {
        storage.close();
      } catch (IOException closing) {
        e.addSuppressed(closing);
      }
      throw e;
    }
  }

  private static ImageFormat probe(Storage storage, Path path) throws IOException {
    byte[] start = new byte[FormatProber.PROBE_BYTES];
    storage.readOrZero(java.nio.ByteBuffer.wrap(start), 0);
    String probed = FormatProber.probe(start, path == null ? "" : path.toString());
    for (ImageFormat format : ImageFormat.values()) {
      if (format.id().equals(probed)) {
        return format;
      }
    }
    throw new UnsupportedFeatureException("image format '" + probed + "' is not supported by qcow4j");
  }

  /** The backing format the overlay records; one that qcow4j does not read is refused naming the backing file. */
  private static ImageFormat recordedFormat(Path path, String backingFormat) throws UnsupportedFeatureException {
    if (!io.qcow4j.options.FormatNames.isQemuDriver(backingFormat)) {
      // no driver of that name at all: QEMU's words, as bdrv_open_backing_file reports them
      throw new UnsupportedFeatureException("Could not open backing file: Unknown driver '" + backingFormat + "'");
    }
    try {
      return ImageFormat.parse(backingFormat);
    } catch (UnsupportedFeatureException e) {
      throw new UnsupportedFeatureException(path + ": " + e.getMessage());
    }
  }

  /** The overlay's name for messages; an image opened over a bare Storage has none. */
  private static String name(Path overlay) {
    return overlay == null ? "image without a path" : overlay.toString();
  }
}
