package io.qcow4j.internal.nodes;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.RawDiskFile;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.internal.storage.LockRequest;
import io.qcow4j.internal.storage.ProtocolDrivers;
import io.qcow4j.probe.FormatProber;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.spec.BlkdebugRule;
import io.qcow4j.spec.BlkdebugRules;
import io.qcow4j.spec.BlockNode;
import io.qcow4j.spec.FormatOptions;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.ImageSpecException;
import io.qcow4j.spec.Secrets;
import io.qcow4j.storage.ProtocolDriver;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Opens the nodes of an image spec that is more than a format over a plain file: each protocol
 * node becomes storage (a host file, null-co, blkdebug over its image, a plugin's), a format node
 * a disk over its file's storage, a filter a disk over the disk below; a disk under a node that
 * wants storage is read through {@link DiskStorage}. What was opened is closed when a later part
 * fails.
 */
public final class NodeOpener {
  private static final int S_IFMT = 0170000;
  private static final int S_IFCHR = 0020000;
  private static final int S_IFBLK = 0060000;

  private NodeOpener() {}

  /** Opens {@code spec} (its open options already applied: {@code options}). */
  public static DiskFile open(ImageSpec spec, OpenOptions options, Secrets secrets) throws IOException {
    if (spec.node() != null) {
      return openTop(spec.node(), options, secrets);
    }
    return openFormat(spec, options, secrets);
  }

  /** A node at the top of the graph (or under a filter): a disk. */
  private static DiskFile openTop(BlockNode node, OpenOptions options, Secrets secrets) throws IOException {
    return switch (node) {
      case BlockNode.Format format -> openFormat(format.spec(), format.spec().openOptions(options), secrets);
      case BlockNode.Filter filter -> openFilter(filter, options, secrets);
      case BlockNode.Blkdebug debug when debug.image() instanceof BlockNode.Format
          || debug.image() instanceof BlockNode.Filter -> {
        DiskFile below = openTop(debug.image(), options, secrets);
        try {
          yield new BlkdebugDisk(below, new BlkdebugStorage(new DiskStorage(below), blkdebugRules(debug)));
        } catch (IOException | RuntimeException e) {
          closeQuietly(below, e);
          throw e;
        }
      }
      default -> {
        Storage storage = storage(node, options, secrets);
        try {
          yield new StorageNodeDisk(new RawDiskFile(storage, bottomPath(node)), node.driver());
        } catch (IOException | RuntimeException e) {
          closeQuietly(storage, e);
          throw e;
        }
      }
    };
  }

  private static DiskFile openFilter(BlockNode.Filter filter, OpenOptions options, Secrets secrets) throws IOException {
    DiskFile below = openTop(filter.file(), options, secrets);
    try {
      return switch (filter.driver()) {
        case "copy-on-read" -> {
          if (below.isReadOnly()) {
            throw new IOException("Block node is read-only");
          }
          yield new CopyOnReadDisk(below);
        }
        case "compress" -> {
          if (below.format() != ImageFormat.QCOW2) {
            throw new IOException("Compression is not supported for underlying format: " + below.driverName());
          }
          yield new CompressDisk(below);
        }
        default -> throw new UnsupportedFeatureException("Driver '" + filter.driver() + "' is not supported by qcow4j");
      };
    } catch (IOException | RuntimeException e) {
      closeQuietly(below, e);
      throw e;
    }
  }

  /** A format (named or probed) over its file child's storage. */
  private static DiskFile openFormat(ImageSpec spec, OpenOptions options, Secrets secrets) throws IOException {
    Storage storage = storage(spec.file(), options, secrets);
    try {
      ImageFormat format = options.format() != null ? options.format() : spec.format();
      if (format == null) {
        format = probe(storage, spec.filename());
      }
      FormatOptions formatOptions = spec.formatOptions(format);
      OpenOptions formatOpen = formatOptions.cacheBytes() != null ? options.withCacheBytes(formatOptions.cacheBytes())
          : options;
      Path path = bottomPath(spec.file());
      return switch (format) {
        case QCOW2 -> QcowFile.open(storage, path, formatOpen, formatOptions, secrets);
        case RAW -> new RawDiskFile(window(storage, formatOptions), path);
        default -> throw new UnsupportedFeatureException("qcow4j opens " + format.id()
            + " images only over a plain file, not over a '" + spec.file().driver() + "' node");
      };
    } catch (IOException | RuntimeException e) {
      closeQuietly(storage, e);
      throw e;
    }
  }

  /** The raw format's window (offset and size options) over its file; the file itself without them. */
  public static Storage window(Storage storage, FormatOptions options) throws IOException {
    if (options.rawOffset() == null && options.rawSize() == null) {
      return storage;
    }
    long offset = options.rawOffset() == null ? 0 : options.rawOffset();
    long fileSize = storage.size();
    if (offset < 0 || offset > fileSize) {
      throw new ImageSpecException("The sum of offset (" + offset + ") and size (0) has to be smaller or equal to the "
          + " actual size of the containing file (" + fileSize + ")");
    }
    if (options.rawSize() != null) {
      long size = options.rawSize();
      if (size < 0 || offset + size > fileSize || offset + size < 0) {
        throw new ImageSpecException("The sum of offset (" + offset + ") and size (" + size
            + ") has to be smaller or equal to the  actual size of the containing file (" + fileSize + ")");
      }
      if (size % 512 != 0) {
        throw new ImageSpecException("Specified size is not multiple of 512");
      }
      return new WindowStorage(storage, offset, size);
    }
    return new WindowStorage(storage, offset, -1);
  }

  private static ImageFormat probe(Storage storage, String filename) throws IOException {
    byte[] start = new byte[FormatProber.PROBE_BYTES];
    storage.readOrZero(ByteBuffer.wrap(start), 0);
    String probed = FormatProber.probe(start, filename == null ? "" : filename);
    for (ImageFormat format : ImageFormat.values()) {
      if (format.id().equals(probed)) {
        return format;
      }
    }
    throw new UnsupportedFeatureException("image format '" + probed + "' is not supported by qcow4j");
  }

  /** The storage a node gives the node above it. */
  static Storage storage(BlockNode node, OpenOptions options, Secrets secrets) throws IOException {
    return switch (node) {
      case BlockNode.File file -> fileStorage(file, options);
      case BlockNode.Null device -> new NullStorage(device.driver(), device.size(), device.readZeroes(),
          device.latencyNs());
      case BlockNode.Blkdebug debug -> blkdebug(debug, options, secrets);
      case BlockNode.Plugin plugin -> pluginStorage(plugin, options);
      case BlockNode.Format format -> new DiskStorage(openFormat(format.spec(), format.spec().openOptions(options),
          secrets));
      case BlockNode.Filter filter -> new DiskStorage(openFilter(filter, options, secrets));
    };
  }

  private static Storage fileStorage(BlockNode.File file, OpenOptions options) throws IOException {
    Path path = Path.of(file.filename());
    if (file.named()) {
      checkFileType(file, path, options.readOnly());
    }
    OpenOptions fileOptions = file.locking() != null ? options.withLocking(file.locking()) : options;
    return FileStorage.open(path, options.readOnly(), LockRequest.forImageFile(fileOptions)).flushingAs(options);
  }

  /** file-posix's checks of the file type a named driver requires. */
  private static void checkFileType(BlockNode.File file, Path path, boolean readOnly) throws IOException {
    if (!Files.exists(path)) {
      throw new NoSuchFileException(file.filename());
    }
    if (!readOnly && Files.isDirectory(path)) {
      throw new IOException("Could not open '" + file.filename() + "': Is a directory");
    }
    int type = ((Integer) Files.getAttribute(path, "unix:mode")) & S_IFMT;
    boolean device = type == S_IFCHR || type == S_IFBLK;
    if (file.driver().equals("file") && !Files.isRegularFile(path, LinkOption.NOFOLLOW_LINKS) && !Files.isRegularFile(path)) {
      throw new IOException("'file' driver requires '" + file.filename() + "' to be a regular file");
    }
    if (!file.driver().equals("file") && !device) {
      throw new IOException("'" + file.driver() + "' driver requires '" + file.filename()
          + "' to be either a character or block device");
    }
  }

  private static Storage blkdebug(BlockNode.Blkdebug debug, OpenOptions options, Secrets secrets) throws IOException {
    List<BlkdebugRule> rules = blkdebugRules(debug);
    Storage image = storage(debug.image(), options, secrets);
    return new BlkdebugStorage(image, rules);
  }

  /** The rules of a blkdebug node: its config file's, then its options'. */
  private static List<BlkdebugRule> blkdebugRules(BlockNode.Blkdebug debug) throws IOException {
    List<BlkdebugRule> rules = new ArrayList<>();
    if (debug.config() != null) {
      String text;
      try {
        text = Files.readString(Path.of(debug.config()));
      } catch (NoSuchFileException e) {
        throw new IOException("Could not read blkdebug config file: No such file or directory", e);
      }
      rules.addAll(BlkdebugRules.parseConfig(text));
    }
    rules.addAll(debug.rules());
    return rules;
  }

  private static Storage pluginStorage(BlockNode.Plugin plugin, OpenOptions options) throws IOException {
    ProtocolDriver driver = ProtocolDrivers.named(plugin.driver())
        .orElseThrow(() -> new ImageSpecException("Unknown driver '" + plugin.driver() + "'"));
    Map<String, String> values = new LinkedHashMap<>(plugin.options());
    Storage storage = driver.open(values, options.readOnly());
    if (!values.isEmpty()) {
      String key = values.keySet().iterator().next();
      closeQuietly(storage, null);
      throw new ImageSpecException("Block protocol '" + plugin.driver() + "' doesn't support the option '" + key + "'");
    }
    return storage;
  }

  /** The host file at the bottom of a node, anchoring relative backing names; null when there is none. */
  private static Path bottomPath(BlockNode node) {
    String filename = node == null ? null : node.bottomFilename();
    if (filename == null || node instanceof BlockNode.Plugin || node instanceof BlockNode.Null) {
      return null;
    }
    try {
      return Path.of(filename);
    } catch (RuntimeException e) {
      return null;
    }
  }

  private static void closeQuietly(AutoCloseable closeable, Throwable failure) {
    try {
      closeable.close();
    } catch (Exception e) {
      if (failure != null) {
        failure.addSuppressed(e);
      }
    }
  }
}
