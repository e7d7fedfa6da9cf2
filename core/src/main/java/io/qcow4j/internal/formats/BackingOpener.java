package io.qcow4j.internal.formats;

import io.qcow4j.disk.DiskFile;
import java.io.IOException;
import java.nio.file.Path;

/** Opens the backing file a read-only image names, one layer deeper in the chain it belongs to. */
@FunctionalInterface
public interface BackingOpener {
  /**
   * Opens {@code backingName} (resolved against {@code overlay}) read-only, in {@code backingFormat}
   * or probed when that is null; null when the chain's options ignore backing files.
   */
  DiskFile open(Path overlay, String backingName, String backingFormat) throws IOException;
}
