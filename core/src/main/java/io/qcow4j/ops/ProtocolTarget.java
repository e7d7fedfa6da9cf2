package io.qcow4j.ops;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.Preallocation;
import io.qcow4j.disk.RawDiskFile;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.internal.storage.ProtocolDrivers;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.storage.ProtocolDriver;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Creating an image on a protocol another module supplies ("nbd:..."), as QEMU's
 * bdrv_co_create_opts_simple does for protocols that cannot create: the node is opened, must be at
 * least the new size (it cannot grow), and its first sector is zeroed; then the format is written
 * into it (raw: nothing more; qcow2: its metadata).
 */
public final class ProtocolTarget {
  private ProtocolTarget() {}

  /** Whether {@code filename} names a node of a protocol driver another module supplies ("nbd:", "nbd+unix://"). */
  public static boolean names(String filename) {
    return driverOf(filename).isPresent();
  }

  private static Optional<ProtocolDriver> driverOf(String filename) {
    int colon = filename.indexOf(':');
    int slash = filename.indexOf('/');
    if (colon <= 0 || (slash >= 0 && slash < colon)) {
      return Optional.empty();
    }
    return ProtocolDrivers.forProtocol(filename.substring(0, colon));
  }

  /** Creates the image and closes it. */
  public static void create(String filename, ImageFormat format, CreateOptions options) throws IOException {
    createAndOpen(filename, format, options).close();
  }

  /** Creates the image and returns it open read-write (a convert's new target). */
  public static DiskFile createAndOpen(String filename, ImageFormat format, CreateOptions options)
      throws IOException {
    ProtocolDriver driver = driverOf(filename)
        .orElseThrow(() -> new IllegalArgumentException(filename + " names no protocol driver"));
    if (format != ImageFormat.RAW && format != ImageFormat.QCOW2) {
      throw new UnsupportedFeatureException("qcow4j creates only raw and qcow2 images on a '" + driver.name()
          + "' node");
    }
    if (format == ImageFormat.RAW && options.preallocation() != Preallocation.OFF) {
      throw new IOException("Unsupported preallocation mode '" + options.preallocation().id() + "'");
    }
    Map<String, String> driverOptions = new HashMap<>();
    driverOptions.put("filename", filename);
    Storage storage;
    try {
      storage = driver.open(driverOptions, false);
    } catch (IOException e) {
      throw new IOException("Protocol driver '" + driver.name()
          + "' does not support image creation, and opening the image failed: " + e.getMessage(), e);
    }
    try {
      storage.ensureSize(format == ImageFormat.RAW ? options.size() : 0);
      int firstSector = (int) Math.min(storage.size(), 512);
      if (firstSector > 0) {
        storage.write(ByteBuffer.allocate(firstSector), 0);
      }
      if (format == ImageFormat.QCOW2) {
        return QcowFile.create(storage, null, options);
      }
      return new RawDiskFile(storage, null);
    } catch (IOException | RuntimeException e) {
      try {
        storage.close();
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }
}
