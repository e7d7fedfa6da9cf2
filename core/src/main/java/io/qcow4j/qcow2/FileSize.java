package io.qcow4j.qcow2;

import io.qcow4j.storage.Storage;
import java.io.IOException;

/** The host file's size, cached, and asked of the file again only when a bound check would fail. */
final class FileSize {
  private final Storage storage;
  private volatile long known;

  FileSize(Storage storage) throws IOException {
    this.storage = storage;
    this.known = storage.size();
  }

  /** The file size, refreshed when the cached one is below {@code wanted}. */
  long atLeast(long wanted) throws IOException {
    long size = known;
    if (size < wanted) {
      size = storage.size();
      known = size;
    }
    return size;
  }
}
