package io.qcow4j.internal.storagenodes;

import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.internal.storage.LockRequest;
import io.qcow4j.internal.storage.ProtocolDrivers;
import io.qcow4j.internal.storage.WindowStorage;
import io.qcow4j.spec.BlkdebugRule;
import io.qcow4j.spec.BlkdebugRules;
import io.qcow4j.spec.BlockNode;
import io.qcow4j.spec.FormatOptions;
import io.qcow4j.spec.ImageSpecException;
import io.qcow4j.storage.ProtocolDriver;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Opens the nodes of an image spec that give storage (a host file, null-co, blkdebug, raw's
 * window, a plugin's protocol); a format or filter node that must serve as storage is left to
 * {@link DiskNodes}, which the layer that opens disks supplies. A qcow2 image's data file opens
 * here too, so the engine needs nothing above this layer.
 */
public final class StorageNodes {
  private static final int S_IFMT = 0170000;
  private static final int S_IFCHR = 0020000;
  private static final int S_IFBLK = 0060000;

  private StorageNodes() {}

  /** Opens a format or filter node as storage (the disk layer's part). */
  @FunctionalInterface
  public interface DiskNodes {
    /** The node's disk, read as storage. */
    Storage open(BlockNode node, OpenOptions options) throws IOException;

    /** For callers that open no disk below storage: such a node is refused. */
    DiskNodes NONE = (node, options) -> {
      throw new io.qcow4j.disk.UnsupportedFeatureException("a '" + node.driver()
          + "' node is not supported here by qcow4j");
    };
  }

  /** The storage a node gives the node above it, a qcow2 image's (whose writer may resize its file). */
  public static Storage storage(BlockNode node, OpenOptions options, DiskNodes disks) throws IOException {
    return storage(node, options, disks, true);
  }

  /**
   * The storage a node gives the node above it; {@code resizes}: whether a writer above takes the
   * file's resize permission as a qcow2 image does, where the raw format takes only what its user
   * asks for (QEMU's raw_child_perm), so a raw image shares its file with a server that forbids
   * resizing.
   */
  public static Storage storage(BlockNode node, OpenOptions options, DiskNodes disks, boolean resizes)
      throws IOException {
    return switch (node) {
      case BlockNode.File file -> fileStorage(file, options, resizes);
      case BlockNode.Null device -> new NullStorage(device.driver(), device.size(), device.readZeroes(),
          device.latencyNs());
      case BlockNode.Blkdebug debug -> blkdebug(debug, options, disks, resizes);
      case BlockNode.Plugin plugin -> pluginStorage(plugin, options);
      case BlockNode.Quorum quorum -> {
        List<Storage> children = new ArrayList<>();
        try {
          for (BlockNode child : quorum.children()) {
            children.add(storage(child, options, disks, resizes));
          }
        } catch (IOException | RuntimeException e) {
          for (Storage child : children) {
            closeQuietly(child, e);
          }
          throw e;
        }
        yield new QuorumStorage(children, quorum.threshold(), quorum.fifo());
      }
      case BlockNode.Format format when format.spec().format() == ImageFormat.RAW && format.spec().node() == null -> {
        Storage file = storage(format.spec().file(), format.spec().openOptions(options), disks, false);
        try {
          yield window(file, format.spec().formatOptions(ImageFormat.RAW));
        } catch (IOException | RuntimeException e) {
          closeQuietly(file, e);
          throw e;
        }
      }
      case BlockNode.Format format -> disks.open(format, options);
      case BlockNode.Filter filter -> disks.open(filter, options);
    };
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

  private static Storage fileStorage(BlockNode.File file, OpenOptions options, boolean resizes) throws IOException {
    Path path = Path.of(file.filename());
    if (file.named()) {
      checkFileType(file, path, options.readOnly());
    }
    OpenOptions fileOptions = file.locking() != null ? options.withLocking(file.locking()) : options;
    LockRequest locks = resizes ? LockRequest.forImageFile(fileOptions) : LockRequest.forRawImage(fileOptions);
    return FileStorage.open(path, options.readOnly(), locks).flushingAs(options);
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

  private static Storage blkdebug(BlockNode.Blkdebug debug, OpenOptions options, DiskNodes disks, boolean resizes)
      throws IOException {
    List<BlkdebugRule> rules = blkdebugRules(debug);
    Storage image = storage(debug.image(), options, disks, resizes);
    return new BlkdebugStorage(image, rules, blkdebugLimits(debug));
  }

  /** The request limits of a blkdebug node's options. */
  public static BlkdebugLimits blkdebugLimits(BlockNode.Blkdebug debug) {
    return new BlkdebugLimits(debug.align(), debug.maxTransfer(), debug.optWriteZero(), debug.maxWriteZero(),
        debug.optDiscard(), debug.maxDiscard());
  }

  /** blkdebug's rules: those of its config file, then those of its options. */
  public static List<BlkdebugRule> blkdebugRules(BlockNode.Blkdebug debug) throws IOException {
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
  public static Path bottomPath(BlockNode node) {
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
