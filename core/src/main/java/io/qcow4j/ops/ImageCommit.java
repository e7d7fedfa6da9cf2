package io.qcow4j.ops;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.BackingNames;
import io.qcow4j.disk.BackingPolicy;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.spec.FormatOptions;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * qemu-img commit: everything the image and the layers between it and a base decide (allocated
 * data, zeros, and zeros past the end of a shorter layer) is written into the base, grown first to
 * the image's size when shorter, so that the base then reads as the image read. The image is then
 * emptied so that it reads through to the base, unless it is kept; with a base named deeper in the
 * chain the image is always kept (the layers between are left as they are and no longer read as
 * before, as qemu-img warns).
 */
public final class ImageCommit {
  private ImageCommit() {}

  /** A commit that cannot be done, with qemu-img's message ("Image does not have a backing file"). */
  public static final class CommitException extends IOException {
    private static final long serialVersionUID = 1L;

    CommitException(String message) {
      super(message);
    }

    CommitException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /**
   * Commits the image named {@code filename} ({@code format}, or probed when null) into its backing
   * file, or into the chain member named {@code baseName} (as the chain records it, or a path to
   * the same file); {@code keepImage} leaves the image as it is instead of emptying it (-d).
   */
  public static void commit(String filename, ImageFormat format, String baseName, boolean keepImage,
      ImageConvert.Progress progress) throws IOException {
    commit(ImageSpec.ofFilename(filename, format), Secrets.none(), baseName, keepImage, progress);
  }

  /**
   * As {@link #commit(String, ImageFormat, String, boolean, ImageConvert.Progress)}, for the image
   * {@code spec} describes; the chain below it is the one its header records (a backing file the
   * spec sets itself is refused), and {@code secrets} holds the secrets the spec may name.
   */
  public static void commit(ImageSpec spec, Secrets secrets, String baseName, boolean keepImage,
      ImageConvert.Progress progress) throws IOException {
    boolean emptyImage = baseName == null && !keepImage;
    OpenOptions layerOptions = OpenOptions.readOnlyDefaults().withBackingPolicy(BackingPolicy.IGNORE);
    String filename = spec.filename();
    List<DiskFile> above = new ArrayList<>();
    DiskFile base = null;
    boolean done = false;
    try {
      DiskFile image;
      ImageSpec backingSpec = null;
      try {
        image = DiskImages.open(spec, layerOptions.withReadOnly(!emptyImage), secrets);
        if (spec.formatOptions(image.format()).backing() instanceof FormatOptions.Override override) {
          if (baseName != null || override.spec().filename() == null) {
            image.close();
            throw new UnsupportedFeatureException("commit into a backing file set by the image options ('"
                + override.optionName() + "') is not supported");
          }
          // the backing file the options name (its driver, file and secret): the base
          backingSpec = override.spec();
        }
      } catch (IOException e) {
        throw new ImageInfos.OpenFailure(spec.name(), e);
      }
      above.add(image);
      if (backingSpec != null) {
        try {
          base = DiskImages.open(backingSpec, OpenOptions.readWriteDefaults(), secrets);
        } catch (IOException e) {
          throw new ImageInfos.OpenFailure(backingSpec.name(), e);
        }
      }
      ImageInfo info = image.info();
      if (base == null && (info.backingFile() == null || info.backingFile().isEmpty())) {
        throw new CommitException("Image does not have a backing file");
      }
      String layerName = filename;
      while (base == null) {
        String recorded = info.backingFile();
        String fullName = BackingNames.fullName(layerName, recorded);
        ImageFormat layerFormat = formatOf(info.backingFormat());
        if (baseName == null || names(baseName, recorded, fullName, layerName)) {
          base = open(fullName, OpenOptions.readWriteDefaults().withFormat(layerFormat));
          break;
        }
        if (above.size() > OpenOptions.DEFAULT_MAX_CHAIN_DEPTH) {
          throw new CommitException("Did not find '" + baseName + "' in the backing chain of '" + filename + "'");
        }
        DiskFile layer = open(fullName, layerOptions.withFormat(layerFormat));
        above.add(layer);
        info = layer.info();
        layerName = fullName;
        if (info.backingFile() == null || info.backingFile().isEmpty()) {
          throw new CommitException("Did not find '" + baseName + "' in the backing chain of '" + filename + "'");
        }
      }
      try {
        CommitMirror.copy(new LayersAbove(above), image.size(), base, progress);
        base.force(true);
      } catch (java.nio.file.FileSystemException e) {
        // an I/O error of the copy: QEMU's commit job fails with it
        throw new CommitException("Block job failed: " + reason(e), e);
      }
      if (emptyImage) {
        if (!(image instanceof QcowFile qcow)) {
          throw new UnsupportedFeatureException(filename + ": only qcow2 images can be emptied");
        }
        try {
          qcow.makeEmpty();
          qcow.force(true);
        } catch (java.nio.file.FileSystemException e) {
          // QEMU names the image as it opened it (bs->filename: "blkdebug:CONF:IMAGE", "json:{...}")
          throw new CommitException("Failed to empty " + spec.displayName(image.format()) + ": " + reason(e), e);
        }
      }
      done = true;
    } finally {
      closeAll(above, base, done);
    }
  }

  /** The errno text of a host I/O error, as QEMU's strerror gives it. */
  private static String reason(java.nio.file.FileSystemException e) {
    return e.getReason() != null ? e.getReason() : e.getMessage();
  }

  private static DiskFile open(String name, OpenOptions options) throws ImageInfos.OpenFailure {
    try {
      if (name.startsWith("json:")) {
        ImageSpec spec = ImageSpec.parseWithDriver(name, null);
        return DiskImages.open(options.format() == null ? spec : spec.withDefaultFormat(options.format()),
            options.withFormat(null), Secrets.none());
      }
      return DiskImages.open(Path.of(name), options);
    } catch (IOException e) {
      throw new ImageInfos.OpenFailure(name, e);
    }
  }

  /**
   * Whether the chain member recorded as {@code recorded} (full name {@code fullName}) in the layer
   * named {@code layerName} is the one named {@code wanted}, as QEMU's bdrv_find_backing_image
   * decides: names with a protocol compare as written; others are taken relative to the layer's
   * directory (an absolute one as it is) and compared as real paths.
   */
  private static boolean names(String wanted, String recorded, String fullName, String layerName) throws IOException {
    if (hasProtocol(wanted) || hasProtocol(recorded)) {
      return wanted.equals(recorded) || wanted.equals(fullName);
    }
    Path wantedPath = Path.of(BackingNames.fullName(layerName, wanted));
    Path layerPath = Path.of(fullName);
    return Files.exists(wantedPath) && Files.exists(layerPath) && Files.isSameFile(wantedPath, layerPath);
  }

  /** QEMU's path_has_protocol: a colon before any slash. */
  private static boolean hasProtocol(String name) {
    int colon = name.indexOf(':');
    int slash = name.indexOf('/');
    return colon >= 0 && (slash < 0 || colon < slash);
  }


  private static ImageFormat formatOf(String backingFormat) throws UnsupportedFeatureException {
    return backingFormat == null || backingFormat.isEmpty() ? null : ImageFormat.parse(backingFormat);
  }

  /** Closes everything; a failure to close is reported only when nothing failed before it. */
  private static void closeAll(List<DiskFile> above, DiskFile base, boolean report) throws IOException {
    IOException failure = null;
    List<DiskFile> all = new ArrayList<>(above);
    if (base != null) {
      all.add(base);
    }
    for (DiskFile disk : all.reversed()) {
      try {
        disk.close();
      } catch (IOException e) {
        if (failure == null) {
          failure = e;
        }
      }
    }
    if (failure != null && report) {
      throw failure;
    }
  }
}
