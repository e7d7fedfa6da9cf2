package io.qcow4j;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.RawDiskFile;
import io.qcow4j.qcow2.QcowFile;
import java.io.IOException;
import java.nio.file.Path;

/** Opens disk images by path, detecting the format by its magic when the options do not name it. */
public final class DiskImages {
  private DiskImages() {}

  /** Opens the image at {@code path} with its backing chain as {@code options} say. */
  public static DiskFile open(Path path, OpenOptions options) throws IOException {
    ImageFormat format = options.format() != null ? options.format() : probe(path);
    return switch (format) {
      case QCOW2 -> QcowFile.open(path, options);
      case RAW -> RawDiskFile.open(path, options.readOnly());
    };
  }

  /** The format of the file at {@code path}: qcow2 when it starts with the qcow2 magic, raw otherwise. */
  public static ImageFormat probe(Path path) throws IOException {
    return QcowFile.probe(path);
  }
}
