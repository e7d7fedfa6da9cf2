package io.qcow4j.internal.nodes;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.ops.ImageWrites;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * QEMU's compress filter: every write through it is a compressed write of the format below
 * (qcow2's write -c: whole clusters, each stored compressed unless that does not shrink it). Its
 * request alignment is the cluster size, so a write that starts or ends inside a cluster is
 * widened to whole clusters with what they hold (the block layer's read-modify-write).
 */
final class CompressDisk extends ForwardingDiskFile {
  CompressDisk(DiskFile below) {
    super(below, "compress");
  }

  @Override
  public int write(ByteBuffer src, long position) throws IOException {
    int count = src.remaining();
    long clusterSize = below.info().clusterSize();
    long start = position - position % clusterSize;
    long end = Math.min(below.size(), ((position + count + clusterSize - 1) / clusterSize) * clusterSize);
    ByteBuffer data;
    if (start == position && end == position + count) {
      data = src.slice();
    } else {
      data = ByteBuffer.allocate((int) (end - start));
      below.readFully(data, start);
      data.put((int) (position - start), src, src.position(), count);
      data.clear();
    }
    ByteBuffer content = data;
    ImageWrites.writeCompressed(below, start, end - start,
        (chunk, length, positionInWrite) -> content.get((int) positionInWrite, chunk, 0, length));
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
