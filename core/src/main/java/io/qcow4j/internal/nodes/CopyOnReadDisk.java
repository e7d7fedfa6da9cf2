package io.qcow4j.internal.nodes;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.ops.CopyOnRead;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * QEMU's copy-on-read filter: after each read, the clusters it touched that the image below does
 * not allocate itself are written into it with what they read as.
 */
final class CopyOnReadDisk extends ForwardingDiskFile {
  CopyOnReadDisk(DiskFile below) {
    super(below, "copy-on-read");
  }

  @Override
  public int read(ByteBuffer dst, long position) throws IOException {
    int count = below.read(dst, position);
    if (count > 0) {
      CopyOnRead.copy(below, position, count);
    }
    return count;
  }

  @Override
  public long read(ByteBuffer[] dsts, long position) throws IOException {
    long count = below.read(dsts, position);
    if (count > 0) {
      CopyOnRead.copy(below, position, count);
    }
    return count;
  }
}
