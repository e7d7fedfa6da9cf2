package io.qcow4j.cli;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.RawDiskFile;
import io.qcow4j.disk.UnsupportedFeatureException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * The -f format names and QEMU's "probing guessed raw" warning of the commands; images are opened
 * through {@link ImageArguments}.
 */
final class Images {
  private Images() {}

  /** The format named by -f (null when absent: probe), or a failure naming the bad name. */
  /**
   * -f as QEMU's tools take it: a format ({@link #format}, refused by name when unknown) or a
   * protocol or filter opened without a format ("null-co", "blkdebug"); its name, null when absent.
   */
  static String driver(String name) {
    if (name == null || io.qcow4j.spec.ImageSpec.isNodeDriver(name)) {
      return name;
    }
    return format(name).id();
  }

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

  /**
   * QEMU's warning for each layer of {@code disk} whose bitmaps a program without bitmap support
   * invalidated (qcow2_read_extensions): its second line ends without a newline, as QEMU prints it.
   */
  static void warnIfBitmapsInvalidated(DiskFile disk, PrintWriter err) {
    for (DiskFile layer = disk; layer != null; layer = layer.backing().orElse(null)) {
      if (layer instanceof io.qcow4j.qcow2.QcowFile image && image.bitmapsInvalidated()) {
        warnBitmapsInvalidated(err);
      }
    }
  }

  /** The warning of {@link #warnIfBitmapsInvalidated} for one image. */
  static void warnBitmapsInvalidated(PrintWriter err) {
    err.print(QemuErrors.PREFIX + "warning: a program lacking bitmap support modified this file, so all bitmaps"
        + " are now considered inconsistent\nSome clusters may be leaked, run 'qemu-img check -r' on the image"
        + " file to fix.");
    err.flush();
  }

  /** QEMU's warning when {@code disk} was opened read-write as raw by probing (raw-format.c's raw_open). */
  static void warnIfProbedRaw(String name, DiskFile disk, PrintWriter err) {
    if (disk instanceof RawDiskFile raw && raw.probed() && !raw.isReadOnly()) {
      warnProbedRaw(name, err);
    }
  }

  /**
   * The same warning for a command that opens {@code name} read-write through a library call: given
   * when no format is named and the file probes as raw; a probe that fails is left to that open.
   */
  static void warnIfProbingRaw(String name, ImageFormat format, PrintWriter err) {
    try {
      if (format == null && DiskImages.probe(Path.of(name)) == ImageFormat.RAW) {
        warnProbedRaw(name, err);
      }
    } catch (IOException e) {
      // the open that follows reports it
    }
  }

  /** "WARNING: Image format was not specified for 'name' and probing guessed raw." and its two lines. */
  static void warnProbedRaw(String name, PrintWriter err) {
    err.println("WARNING: Image format was not specified for '" + name + "' and probing guessed raw.");
    err.println("         Automatically detecting the format is dangerous for raw images, write operations on block 0"
        + " will be restricted.");
    err.println("         Specify the 'raw' format explicitly to remove the restrictions.");
    err.flush();
  }

  /** The lines of the repair a read-write open made of a dirty lazy-refcounts image, as QEMU prints them while it opens it. */
  static void printRepairedAtOpen(DiskFile disk, java.io.PrintWriter err) {
    if (disk instanceof io.qcow4j.qcow2.QcowFile image && !image.repairedAtOpen().isEmpty()) {
      for (String line : image.repairedAtOpen()) {
        err.println(line);
      }
      err.flush();
    }
  }
}
