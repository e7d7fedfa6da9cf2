package io.qcow4j.qcow2;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.UnsupportedFeatureException;
import java.io.IOException;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;

/**
 * Where an external data file's name leads. QEMU 7.2 opens the recorded name as it stands
 * (qcow2_do_open hands it to bdrv_open_child, and qcow2_co_create_opts to bdrv_create_file): a
 * relative name is relative to the working directory of the process, not to the image, unlike a
 * backing file name.
 */
final class DataFilePaths {
  private DataFilePaths() {}

  /** The host path of the data file named {@code name} (a "file:" prefix stripped), for image {@code image}. */
  static Path of(String image, String name) throws IOException {
    String file = name.startsWith("file:") ? name.substring("file:".length()) : name;
    if (file.startsWith("json:") || file.contains("://")) {
      throw new UnsupportedFeatureException(image + ": data file '" + name
          + "' uses a protocol or JSON description, which is not supported (only local files are)");
    }
    try {
      return Path.of(file);
    } catch (InvalidPathException e) {
      throw new CorruptImageException(image + ": data file name '" + name.replace("\0", "\\0")
          + "' is not a valid path: " + e.getReason());
    }
  }
}
