package io.qcow4j.internal.storage;

import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Grows an empty file as QEMU 7.2's file protocol does (raw_regular_truncate's
 * allocate_first_block): the new length a hole but for its first block, written with zeros (512
 * bytes under 4 KiB, else 4 KiB), so that qemu-img map reports that block as data as QEMU's does.
 */
public final class FirstBlock {
  private static final int BLOCK = 4096;

  private FirstBlock() {}

  /** Truncates the empty {@code storage} to {@code size} bytes and writes its first block. */
  public static void growEmpty(Storage storage, long size) throws IOException {
    storage.truncate(size);
    if (size > 0) {
      storage.write(ByteBuffer.allocate((int) Math.min(size < BLOCK ? 512 : BLOCK, size)), 0);
    }
  }
}
