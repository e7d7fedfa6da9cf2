package io.qcow4j.internal.storage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Facts about host files that qemu-img reports. */
public final class HostFiles {
  private HostFiles() {}

  /** The bytes the file occupies on the host, like qemu-img's "disk size"; its length when unknown. */
  public static long allocatedBytes(Path path) {
    if (path == null) {
      return 0;
    }
    long allocated = NativeFile.allocatedBytes(path);
    if (allocated >= 0) {
      return allocated;
    }
    try {
      return Files.size(path);
    } catch (IOException e) {
      return 0;
    }
  }
}
