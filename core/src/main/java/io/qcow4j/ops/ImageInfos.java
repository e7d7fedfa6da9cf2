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
import java.io.IOException;
import java.nio.file.Path;
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
    OpenOptions layerOptions = options.withReadOnly(true).withBackingPolicy(BackingPolicy.IGNORE);
    List<LayerInfo> layers = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    String name = filename;
    ImageFormat layerFormat = format;
    while (name != null) {
      if (!seen.add(name)) {
        throw new ChainException("Backing file '" + name + "' creates an infinite loop.");
      }
      if (layers.size() > options.maxChainDepth()) {
        throw new ImageLimitException(filename + ": backing chain is deeper than " + options.maxChainDepth()
            + " images (at '" + name + "')");
      }
      LayerInfo layer = describeOne(name, layerOptions.withFormat(layerFormat));
      layers.add(layer);
      if (!backingChain) {
        break;
      }
      name = layer.fullBackingFilename();
      layerFormat = formatOf(layer.info().backingFormat(), name);
    }
    return layers;
  }

  private static LayerInfo describeOne(String name, OpenOptions options) throws IOException {
    try (DiskFile disk = DiskImages.open(Path.of(name), options)) {
      ImageInfo info = disk.info();
      String full = info.backingFile() == null || info.backingFile().isEmpty()
          ? null : BackingNames.fullName(name, info.backingFile());
      return new LayerInfo(name, info, full);
    } catch (IOException e) {
      throw new OpenFailure(name, e);
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
