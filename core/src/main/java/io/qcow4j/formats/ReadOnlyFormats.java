package io.qcow4j.formats;

import io.qcow4j.bochs.BochsFile;
import io.qcow4j.disk.BackingNames;
import io.qcow4j.disk.BackingPolicy;
import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.RawDiskFile;
import io.qcow4j.disk.SnapshotLoadException;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.internal.formats.BackingOpener;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.internal.storage.LockRequest;
import io.qcow4j.qcow1.Qcow1File;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.qed.QedFile;
import io.qcow4j.spec.FormatOptions;
import io.qcow4j.storage.Storage;
import io.qcow4j.vdi.VdiFile;
import io.qcow4j.vhdx.VhdxFile;
import io.qcow4j.vpc.VhdFooter;
import io.qcow4j.vpc.VpcFile;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;

/**
 * The opener of each format qcow4j reads but does not write (vpc, vdi, qed, qcow, vhdx, bochs): the one place
 * that names their packages, used by {@code DiskImages} for an image and by qcow2's backing chain
 * for a backing file. Their own backing files (qed, qcow, a differencing VHD's or VHDX's parent) are opened
 * here too, in any format, one layer deeper.
 */
public final class ReadOnlyFormats {
  private ReadOnlyFormats() {}

  /** Opens the image at {@code path} in {@code format} (one qcow4j only reads) as the top of its chain. */
  public static DiskFile open(ImageFormat format, Path path, OpenOptions options) throws IOException {
    return open(format, path, options, 0, new HashSet<>());
  }

  /**
   * Opens the image at {@code path} in {@code format} as the top of its chain with the format's
   * runtime options {@code formatOptions} (vpc's force_size_calc).
   */
  public static DiskFile open(ImageFormat format, Path path, OpenOptions options, FormatOptions formatOptions)
      throws IOException {
    return open(format, path, options, 0, new HashSet<>(), VhdFooter.SizeCalc.parse(formatOptions.vpcSizeCalc()));
  }

  /**
   * Opens the image at {@code path} in {@code format} at {@code depth} of a chain whose images
   * above are {@code chainAbove} (real paths); a read-write open is refused naming the format.
   */
  public static DiskFile open(ImageFormat format, Path path, OpenOptions options, int depth, Set<Path> chainAbove)
      throws IOException {
    return open(format, path, options, depth, chainAbove, VhdFooter.SizeCalc.AUTO);
  }

  private static DiskFile open(ImageFormat format, Path path, OpenOptions options, int depth, Set<Path> chainAbove,
      VhdFooter.SizeCalc vpcSizeCalc) throws IOException {
    if (format.writable()) {
      throw new IllegalArgumentException("format " + format.id() + " is opened by its own engine");
    }
    if (!options.readOnly()) {
      // QEMU opens these formats read-write: a damaged image fails with the format's own error first
      open(format, path, options.withReadOnly(true), depth, chainAbove, vpcSizeCalc).close();
      throw new UnsupportedFeatureException(path + ": image format '" + format.id()
          + "' is supported read-only by qcow4j; open the image read-only");
    }
    if (options.snapshot() != null) {
      throw new SnapshotLoadException(path.toString(), "Block format '" + format.id() + "' used by device '' does not"
          + " support temporarily loading internal snapshots");
    }
    Set<Path> chain = new HashSet<>(chainAbove);
    chain.add(path.toRealPath());
    BackingOpener backings = options.backingPolicy() == BackingPolicy.IGNORE ? null
        : (overlay, name, backingFormat) -> openBacking(overlay, name, backingFormat, options, depth + 1, chain);
    Storage storage = FileStorage.open(path, true, LockRequest.forImageFile(options));
    try {
      return switch (format) {
        case VPC -> VpcFile.open(storage, path, backings, vpcSizeCalc);
        case VDI -> VdiFile.open(storage, path);
        case QED -> QedFile.open(storage, path, backings);
        case QCOW -> Qcow1File.open(storage, path, backings);
        case VHDX -> VhdxFile.open(storage, path, backings);
        case BOCHS -> BochsFile.open(storage, path);
        default -> throw new IllegalArgumentException("format " + format.id());
      };
    } catch (IOException | RuntimeException e) {
      try {
        storage.close();
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  /**
   * qemu-img check -r on the image at {@code path} in {@code format} (one qcow4j only reads): the
   * image is opened as QEMU opens it for the repair, read-write with the write permission taken,
   * a QED image is checked and repaired as QEMU's qed_check repairs it, and a VHDX image has its
   * active log replayed into the file as QEMU's read-write open replays it, then checked; empty for
   * the formats QEMU has no repairing check for (vpc, vdi, qcow, bochs: qemu-img's "does not
   * support checks"), once the image opened.
   */
  public static Optional<CheckResult> repair(ImageFormat format, Path path, OpenOptions options,
      FormatOptions formatOptions) throws IOException {
    if (format.writable()) {
      throw new IllegalArgumentException("format " + format.id() + " is checked by its own engine");
    }
    OpenOptions writing = options.withReadOnly(false);
    Set<Path> chain = new HashSet<>();
    chain.add(path.toRealPath());
    BackingOpener backings = options.backingPolicy() == BackingPolicy.IGNORE ? null
        : (overlay, name, backingFormat) -> openBacking(overlay, name, backingFormat, options, 1, chain);
    Storage storage = FileStorage.open(path, false, LockRequest.forImageFile(writing));
    try {
      switch (format) {
        case QED -> {
          return Optional.of(QedFile.repair(storage, path, backings));
        }
        case VHDX -> {
          return Optional.of(VhdxFile.repair(storage, path, backings));
        }
        case VPC -> VpcFile.open(storage, path, backings, VhdFooter.SizeCalc.parse(formatOptions.vpcSizeCalc()))
            .close();
        case VDI -> VdiFile.open(storage, path).close();
        case QCOW -> Qcow1File.open(storage, path, backings).close();
        case BOCHS -> BochsFile.open(storage, path).close();
        default -> throw new IllegalArgumentException("format " + format.id());
      }
      return Optional.empty();
    } catch (IOException | RuntimeException e) {
      try {
        storage.close();
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  /** Opens a backing file of a read-only image: resolved, bounded in depth, never a loop, any format. */
  private static DiskFile openBacking(Path overlay, String backingName, String backingFormat, OpenOptions options,
      int depth, Set<Path> chain) throws IOException {
    if (options.backingPolicy() == BackingPolicy.REFUSE) {
      throw new UnsupportedFeatureException(overlay + ": image has a backing file ('" + backingName
          + "') and the backing policy refuses backing files");
    }
    if (depth > options.maxChainDepth()) {
      throw new ImageLimitException(overlay + ": backing chain is deeper than the limit of "
          + options.maxChainDepth() + " backing files (at '" + backingName + "')");
    }
    if (backingName.startsWith("json:") || backingName.contains("://")) {
      throw new UnsupportedFeatureException(overlay + ": backing file '" + backingName
          + "' uses a protocol or JSON description, which is not supported (only local files are)");
    }
    Path path = Path.of(BackingNames.fullName(overlay.toString(), backingName));
    Path real;
    try {
      real = path.toRealPath();
    } catch (NoSuchFileException e) {
      throw new NoSuchFileException(path.toString(), null, "backing file of '" + overlay + "' does not exist");
    }
    if (chain.contains(real)) {
      throw new CorruptImageException(overlay + ": backing chain loops: '" + backingName
          + "' is already in the chain above it");
    }
    ImageFormat format = backingFormat == null ? ImageFormat.probe(path) : recordedFormat(path, backingFormat);
    OpenOptions backingOptions = LockRequest.forBacking(options);
    return switch (format) {
      case QCOW2 -> QcowFile.open(path, backingOptions.withMaxChainDepth(options.maxChainDepth() - depth));
      case RAW -> backingFormat == null ? RawDiskFile.openProbed(path, backingOptions)
          : RawDiskFile.open(path, backingOptions);
      default -> open(format, path, backingOptions, depth, chain);
    };
  }

  private static ImageFormat recordedFormat(Path path, String backingFormat) throws UnsupportedFeatureException {
    try {
      return ImageFormat.parse(backingFormat);
    } catch (UnsupportedFeatureException e) {
      throw new UnsupportedFeatureException(path + ": " + e.getMessage());
    }
  }
}
