package io.qcow4j;

import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.Preallocation;
import io.qcow4j.disk.RawDiskFile;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.formats.ReadOnlyFormats;
import io.qcow4j.internal.nodes.NodeOpener;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.internal.storage.FirstBlock;
import io.qcow4j.luks.LuksFile;
import io.qcow4j.options.CreateRules;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.spec.FormatOptions;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import io.qcow4j.vmdk.VmdkFile;
import io.qcow4j.vmdk.VmdkTarget;
import io.qcow4j.vdi.VdiTarget;
import io.qcow4j.qed.QedTarget;
import io.qcow4j.qcow1.Qcow1Target;
import io.qcow4j.vhdx.VhdxTarget;
import io.qcow4j.vpc.DynamicVhdTarget;
import io.qcow4j.vpc.FixedVhdTarget;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Opens disk images by path, probing the format as QEMU does when the options do not name it; a
 * format qcow4j does not read is refused by name.
 */
public final class DiskImages {
  private DiskImages() {}

  /** Opens the image at {@code path} with its backing chain as {@code options} say. */
  public static DiskFile open(Path path, OpenOptions options) throws IOException {
    if (options.format() == null) {
      ImageFormat probed = probe(path);
      return switch (probed) {
        case QCOW2 -> QcowFile.open(path, options);
        case RAW -> RawDiskFile.openProbed(path, options);
        case VMDK -> VmdkFile.open(path, options);
        case LUKS -> LuksFile.open(path, options);
        default -> ReadOnlyFormats.open(probed, path, options);
      };
    }
    return switch (options.format()) {
      case QCOW2 -> QcowFile.open(path, options);
      case RAW -> RawDiskFile.open(path, options);
      case VMDK -> VmdkFile.open(path, options);
      case LUKS -> LuksFile.open(path, options);
      default -> ReadOnlyFormats.open(options.format(), path, options);
    };
  }

  /**
   * Opens the image {@code spec} describes: {@code defaults} (the command's open options) with the
   * spec's own settings, the format it names or else the probed one, and for qcow2 the backing
   * file, data file and cache budget as the spec sets them; {@code secrets} holds the secrets the
   * spec may name.
   */
  public static DiskFile open(ImageSpec spec, OpenOptions defaults, Secrets secrets) throws IOException {
    OpenOptions options = spec.openOptions(defaults);
    if (!spec.overPlainFile()) {
      return NodeOpener.open(spec, options, secrets);
    }
    Path path = spec.path();
    boolean probed = options.format() == null;
    ImageFormat format = probed ? probe(path) : options.format();
    FormatOptions formatOptions = spec.formatOptions(format);
    if (formatOptions.cacheBytes() != null) {
      options = options.withCacheBytes(formatOptions.cacheBytes());
    }
    return switch (format) {
      case QCOW2 -> QcowFile.open(path, options, formatOptions, secrets);
      case RAW -> formatOptions.rawOffset() != null || formatOptions.rawSize() != null
          ? NodeOpener.open(spec, options.withFormat(ImageFormat.RAW), secrets)
          : probed ? RawDiskFile.openProbed(path, options) : RawDiskFile.open(path, options);
      case VMDK -> VmdkFile.open(path, options);
      case LUKS -> LuksFile.open(path, options, secret(options, formatOptions.keySecret(), secrets));
      default -> ReadOnlyFormats.open(format, path, options, formatOptions);
    };
  }

  /**
   * qemu-img check -r on the image {@code spec} describes in a format qcow4j reads but does not
   * write (vmdk, vpc, vdi, qed, qcow, bochs): opened as QEMU opens it for a repair and, for QED,
   * checked and repaired as QEMU repairs it ({@code repair} LEAKS or ALL: QEMU's qed_check fixes
   * what it can either way); empty for a format QEMU cannot check with repairs, once the image
   * opened. qcow2, raw and luks images are not taken here.
   */
  public static Optional<CheckResult> repair(ImageSpec spec, OpenOptions defaults, CheckResult.Repair repair)
      throws IOException {
    if (repair == CheckResult.Repair.NONE) {
      throw new IllegalArgumentException("a repair mode is needed");
    }
    if (!spec.overPlainFile()) {
      throw new UnsupportedFeatureException("qcow4j repairs images in plain files only");
    }
    OpenOptions options = spec.openOptions(defaults).withReadOnly(true);
    Path path = spec.path();
    ImageFormat format = options.format() != null ? options.format() : probe(path);
    if (format.writable()) {
      throw new IllegalArgumentException("format " + format.id() + " is repaired by its own engine");
    }
    FormatOptions formatOptions = spec.formatOptions(format);
    if (format == ImageFormat.VMDK) {
      // QEMU opens it read-write, which changes nothing before the first write, then has no check with repairs
      VmdkFile.open(path, options).close();
      return Optional.empty();
    }
    return ReadOnlyFormats.repair(format, path, options, formatOptions);
  }

  /**
   * Creates an image of {@code format} at {@code path} (replacing any file there) and returns it
   * opened read-write; raw images take only the size and the preallocation.
   */
  public static DiskFile create(Path path, ImageFormat format, CreateOptions options) throws IOException {
    return switch (format) {
      case QCOW2 -> QcowFile.create(path, options);
      case RAW -> createRaw(path, options);
      case VDI -> VdiTarget.create(path, options);
      case VHDX -> VhdxTarget.create(path, options);
      case VMDK -> VmdkTarget.create(path, options);
      case VPC -> options.vpcFixed() ? FixedVhdTarget.create(path, options) : DynamicVhdTarget.create(path, options);
      case LUKS -> LuksFile.create(path, options);
      case QED -> QedTarget.create(path, options);
      case QCOW -> Qcow1Target.create(path, options);
      default -> throw new UnsupportedFeatureException("qcow4j does not create " + format.id() + " images");
    };
  }

  /**
   * The bytes of the secret {@code keySecretId} names (QEMU's "No secret with id" when undefined),
   * or the options' own key secret when the spec names none; none for an image opened only to be
   * described. The caller clears them.
   */
  private static byte[] secret(OpenOptions options, String keySecretId, Secrets secrets) throws IOException {
    if (options.describeOnly()) {
      return null;
    }
    return keySecretId == null ? options.keySecret() : secrets.bytes(keySecretId);
  }

  private static DiskFile createRaw(Path path, CreateOptions options) throws IOException {
    if (options.backingFile() != null || options.dataFile() != null) {
      throw new UnsupportedFeatureException("raw images take no backing file or data file");
    }
    CreateRules.checkRaw(options);
    // QEMU's file protocol creates whole sectors (file-posix's ROUND_UP to BDRV_SECTOR_SIZE).
    long size = (options.size() + 511) & -512L;
    try (FileStorage storage = FileStorage.create(path, true)) {
      switch (options.preallocation()) {
        case FALLOC -> {
          storage.truncate(size);
          storage.allocate(0, size);
          FirstBlock.growEmpty(storage, size);
        }
        case FULL -> {
          // file-posix's full preallocation writes zeros (a zeroed range could stay a hole)
          storage.truncate(size);
          ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(1 << 20, Math.max(size, 1)));
          for (long cursor = 0; cursor < size; cursor += zeros.capacity()) {
            zeros.clear().limit((int) Math.min(zeros.capacity(), size - cursor));
            storage.write(zeros, cursor);
          }
        }
        case OFF, METADATA -> FirstBlock.growEmpty(storage, size);
      }
    }
    return RawDiskFile.open(path, false);
  }

  /**
   * The format of the file at {@code path} as QEMU probes it; a format qcow4j does not read (vmdk,
   * vhdx, ...) fails with {@link UnsupportedFeatureException} naming it.
   */
  public static ImageFormat probe(Path path) throws IOException {
    return ImageFormat.probe(path);
  }
}
