package io.qcow4j.cli;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.UnsupportedFeatureException;
import java.io.IOException;
import java.nio.file.Path;

/** Opening images named on the command line, with qemu-img's error messages. */
final class Images {
  private Images() {}

  /** The format named by -f (null when absent: probe), or a failure naming the bad name. */
  static ImageFormat format(String name) {
    if (name == null) {
      return null;
    }
    try {
      return ImageFormat.parse(name);
    } catch (UnsupportedFeatureException e) {
      throw new CommandFailure(e.getMessage(), 1, e);
    }
  }

  /** Opens {@code name} read-only, or fails with "Could not open 'name': reason". */
  static DiskFile openReadOnly(String name, ImageFormat format) {
    return open(name, OpenOptions.readOnlyDefaults().withFormat(format));
  }

  /** Opens {@code name} with {@code options}, or fails with "Could not open 'name': reason". */
  static DiskFile open(String name, OpenOptions options) {
    try {
      return DiskImages.open(Path.of(name), options);
    } catch (IOException e) {
      throw Failures.couldNotOpen(name, e);
    } catch (RuntimeException e) {
      throw new CommandFailure("Could not open '" + name + "': " + Failures.reason(e, name), 1, e);
    }
  }
}
