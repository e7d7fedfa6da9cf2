package io.qcow4j.qcow2;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.UnsupportedFeatureException;
import java.io.IOException;
import java.nio.file.Path;

/** A qcow2 image (placeholder until the engine lands). */
public final class QcowFile {
  /** "QFI\xfb", the first four bytes of every qcow2 file. */
  public static final int MAGIC = 0x514649fb;

  private QcowFile() {}

  /** Opens a qcow2 image. */
  public static DiskFile open(Path path, OpenOptions options) throws IOException {
    throw new UnsupportedFeatureException(path + ": qcow2 is not supported yet");
  }
}
