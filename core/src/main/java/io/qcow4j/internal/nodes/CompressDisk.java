package io.qcow4j.internal.nodes;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.ops.ImageWrites;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * QEMU's compress filter: every write through it is a compressed write of the format below
 * (qcow2's write -c: whole clusters, each stored compressed unless that does not shrink it).
 */
final class CompressDisk extends ForwardingDiskFile {
  CompressDisk(DiskFile below) {
    super(below, "compress");
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    int count = src.remaining();
    ByteBuffer data = src.slice();
    ImageWrites.writeCompressed(below, position, count,
        (chunk, length, positionInWrite) -> data.get((int) positionInWrite, chunk, 0, length));
    src.position(src.limit());
    return count;
  }

  @Override
  public long write(ByteBuffer[] srcs, long position) throws IOException {
    long total = 0;
    for (ByteBuffer src : srcs) {
      total += write(src, position + total);
    }
    return total;
  }
}
