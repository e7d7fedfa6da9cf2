package io.qcow4j.internal.nodes;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.RawDiskFile;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.internal.storagenodes.BlkdebugStorage;
import io.qcow4j.internal.storagenodes.StorageNodes;
import io.qcow4j.probe.FormatProber;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.spec.BlockNode;
import io.qcow4j.spec.FormatOptions;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * Opens the nodes of an image spec that is more than a format over a plain file: each protocol
 * node becomes storage (a host file, null-co, blkdebug over its image, a plugin's), a format node
 * a disk over its file's storage, a filter a disk over the disk below; a disk under a node that
 * wants storage is read through {@link DiskStorage}. What was opened is closed when a later part
 * fails.
 */
public final class NodeOpener {

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
          yield new BlkdebugDisk(below, new BlkdebugStorage(new DiskStorage(below), StorageNodes.blkdebugRules(debug),
              StorageNodes.blkdebugLimits(debug)));
        } catch (IOException | RuntimeException e) {
          closeQuietly(below, e);
          throw e;
        }
      }
      default -> {
        Storage storage = StorageNodes.storage(node, options, disks(secrets));
        try {
          yield new StorageNodeDisk(new RawDiskFile(storage, StorageNodes.bottomPath(node)), node.driver());
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
    ImageFormat named = options.format() != null ? options.format() : spec.format();
    Storage storage = StorageNodes.storage(spec.file(), options, disks(secrets), named != ImageFormat.RAW);
    try {
      ImageFormat format = named;
      boolean probed = format == null;
      if (probed) {
        format = probe(storage, spec.filename());
      }
      FormatOptions formatOptions = spec.formatOptions(format);
      OpenOptions formatOpen = formatOptions.cacheBytes() != null ? options.withCacheBytes(formatOptions.cacheBytes())
          : options;
      Path path = StorageNodes.bottomPath(spec.file());
      return switch (format) {
        case QCOW2 -> QcowFile.open(storage, path, formatOpen, formatOptions, secrets);
        case RAW -> probed ? RawDiskFile.probed(StorageNodes.window(storage, formatOptions), path)
            : new RawDiskFile(StorageNodes.window(storage, formatOptions), path);
        default -> throw new UnsupportedFeatureException("qcow4j opens " + format.id()
            + " images only over a plain file, not over a '" + spec.file().driver() + "' node");
      };
    } catch (IOException | RuntimeException e) {
      closeQuietly(storage, e);
      throw e;
    }
  }


  /** Format and filter nodes below a node that wants storage: their disk, read through {@link DiskStorage}. */
  private static StorageNodes.DiskNodes disks(Secrets secrets) {
    return (node, options) -> new DiskStorage(openTop(node, options, secrets));
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
