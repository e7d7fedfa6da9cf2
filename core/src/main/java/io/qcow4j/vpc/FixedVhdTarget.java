package io.qcow4j.vpc;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.RawDiskFile;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.internal.storage.FileStorage;
import io.qcow4j.internal.storage.WindowStorage;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A new fixed VHD opened for writing its data: made by {@link VhdCreator} (the footer already in
 * place after the data area), then written as the raw disk its data area is.
 */
public final class FixedVhdTarget {
  private FixedVhdTarget() {}

  /** Creates the fixed VHD {@code options} describe at {@code path} (replacing any file) and opens its data area. */
  public static DiskFile create(Path path, CreateOptions options) throws IOException {
    if (!options.vpcFixed()) {
      throw new UnsupportedFeatureException(path + ": qcow4j writes only fixed VHD images");
    }
    if (options.backingFile() != null) {
      throw new UnsupportedFeatureException(path + ": VHD images take no backing file");
    }
    FileStorage storage = FileStorage.create(path, true);
    try {
      long virtualSize = VhdCreator.createFixed(storage, options.size(), options.vpcForceSize());
      return new RawDiskFile(new WindowStorage(storage, 0, virtualSize), path);
    } catch (IOException | RuntimeException e) {
      storage.close();
      throw e;
    }
  }
}
