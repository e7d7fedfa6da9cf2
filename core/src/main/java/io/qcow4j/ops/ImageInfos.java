package io.qcow4j.ops;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.BackingNames;
import io.qcow4j.disk.BackingPolicy;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.probe.FormatProber;
import io.qcow4j.spec.FormatOptions;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.ImageSpecException;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * qemu-img info: each image is opened alone (its backing file is not needed to describe it), and
 * with the backing chain each backing file is opened by its full name, in the format the overlay
 * records (probed when it records none).
 */
public final class ImageInfos {
  private ImageInfos() {}

  /** One image of the chain could not be opened; {@link #filename()} names it, the cause says why. */
  public static final class OpenFailure extends IOException {
    private static final long serialVersionUID = 1L;
    private final String filename;

    OpenFailure(String filename, IOException cause) {
      super(filename + ": " + cause.getMessage(), cause);
      this.filename = filename;
    }

    /** The name the image was opened by. */
    public String filename() {
      return filename;
    }
  }

  /** A backing file that cannot be described: the chain loops or its format is unknown. */
  public static final class ChainException extends IOException {
    private static final long serialVersionUID = 1L;

    ChainException(String message) {
      super(message);
    }
  }

  /**
   * Describes the image named {@code filename} (opened as {@code format}, or probed when null) and,
   * when {@code backingChain}, every image below it; {@code options} gives the limits.
   */
  public static List<LayerInfo> describe(String filename, ImageFormat format, boolean backingChain, OpenOptions options)
      throws IOException {
    return describe(ImageSpec.ofFilename(filename, format), backingChain, options, Secrets.none());
  }

  /**
   * Describes the image {@code image} specifies and, when {@code backingChain}, every image below
   * it by the names the chain records; {@code options} gives the limits and locks,
   * {@code secrets} the secrets the spec may name.
   */
  public static List<LayerInfo> describe(ImageSpec image, boolean backingChain, OpenOptions options, Secrets secrets)
      throws IOException {
    OpenOptions layerOptions = options.withReadOnly(true).withBackingPolicy(BackingPolicy.IGNORE);
    List<LayerInfo> layers = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    ImageSpec layerSpec = image;
    while (layerSpec != null) {
      String name = layerSpec.filename();
      if (!seen.add(name)) {
        throw new ChainException("Backing file '" + name + "' creates an infinite loop.");
      }
      if (layers.size() > options.maxChainDepth()) {
        throw new ImageLimitException(image.filename() + ": backing chain is deeper than " + options.maxChainDepth()
            + " images (at '" + name + "')");
      }
      LayerInfo layer = describeOne(layerSpec, layerOptions, secrets, layers.isEmpty());
      layers.add(layer);
      if (!backingChain || layer.fullBackingFilename() == null) {
        break;
      }
      String backingName = layer.fullBackingFilename();
      layerSpec = ImageSpec.ofFilename(backingName, formatOf(layer.info().backingFormat(), backingName));
    }
    return layers;
  }

  /**
   * Describes one image; {@code top}: the one the command names, whose spec may not set a backing
   * file (qemu-img info opens no backing file, so its options are unknown to it).
   */
  private static LayerInfo describeOne(ImageSpec spec, OpenOptions options, Secrets secrets, boolean top)
      throws IOException {
    // qemu-img info opens with BDRV_O_NO_IO: an encrypted image's header is read, no secret needed
    try (DiskFile disk = DiskImages.open(spec, options.withDescribeOnly(true), secrets)) {
      ImageInfo info = disk.info();
      if (top && spec.formatOptions(info.format()).backing() instanceof FormatOptions.Override override) {
        throw new ImageSpecException("Block format '" + info.format().id() + "' does not support the option '"
            + override.optionName() + "'");
      }
      // no base directory (a quorum): the backing file's actual path cannot be determined
      String full = info.backingFile() == null || info.backingFile().isEmpty() || spec.filename() == null
          ? null : BackingNames.fullName(spec.filename(), info.backingFile());
      // a protocol node from another module names itself (an NBD export's URI)
      String name = disk.nodeFilename() != null ? disk.nodeFilename() : spec.displayName(info.format());
      return new LayerInfo(name, info, full,
          disk instanceof io.qcow4j.qcow2.QcowFile image && image.bitmapsInvalidated(), disk.driverName(),
          disk.hasDriverInfo());
    } catch (IOException e) {
      throw new OpenFailure(spec.name(), e);
    }
  }

  private static ImageFormat formatOf(String backingFormat, String backingName) throws ChainException {
    if (backingFormat == null || backingFormat.isEmpty()) {
      return null;
    }
    try {
      return ImageFormat.parse(backingFormat);
    } catch (UnsupportedFeatureException e) {
      String reason = FormatProber.FORMATS.contains(backingFormat) ? e.getMessage()
          : "unknown backing file format '" + backingFormat + "'";
      throw new ChainException("Could not open '" + backingName + "': " + reason);
    }
  }
}
