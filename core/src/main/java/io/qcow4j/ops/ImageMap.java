package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import java.io.IOException;

/** The allocation map of an image, as qemu-img map and qemu-io's map command walk it. */
public final class ImageMap {
  private ImageMap() {}

  /** Receives map entries in guest order. */
  @FunctionalInterface
  public interface EntrySink {
    /** Takes the next entry. */
    void accept(MapEntry entry) throws IOException;
  }

  /** Receives the runs of qemu-io's map: ranges allocated or not in the top layer itself. */
  @FunctionalInterface
  public interface RunSink {
    /** Takes the next run: {@code length} bytes from {@code start}, allocated in the top layer or not. */
    void accept(long start, long length, boolean allocated) throws IOException;
  }

  /**
   * Walks the block status of {@code disk} from {@code startOffset} for at most {@code maxLength}
   * bytes (negative: to the end) and hands over entries merged exactly as qemu-img map merges them:
   * same depth, presence, zero and data flags, same file and contiguous host offsets. Nothing is
   * handed over when the range is empty.
   */
  public static void walk(DiskFile disk, long startOffset, long maxLength, EntrySink sink) throws IOException {
    if (startOffset < 0) {
      throw new IllegalArgumentException("negative start offset " + startOffset);
    }
    long end = disk.size();
    if (maxLength >= 0) {
      end = Math.min(end, startOffset + maxLength);
    }
    MapEntry current = null;
    long position = startOffset;
    while (position < end) {
      MapEntry next = entryOf(disk.blockStatus(position, end - position), disk);
      if (next.length() <= 0) {
        throw new IOException(disk.files() + ": block status at offset " + position + " returned an empty range");
      }
      if (current != null && current.mergeableWith(next)) {
        current = current.extendedBy(next.length());
      } else {
        if (current != null) {
          sink.accept(current);
        }
        current = next;
      }
      position = next.end();
    }
    if (current != null) {
      sink.accept(current);
    }
  }

  /**
   * Walks the whole disk and hands over the maximal runs that are allocated in the top layer
   * itself (data or zero flag there) or not, as qemu-io's map command prints them.
   */
  public static void topLayerRuns(DiskFile disk, RunSink sink) throws IOException {
    long size = disk.size();
    long runStart = 0;
    boolean runAllocated = false;
    long position = 0;
    while (position < size) {
      Extent extent = disk.blockStatus(position, size - position);
      if (extent.length() <= 0) {
        throw new IOException(disk.files() + ": block status at offset " + position + " returned an empty range");
      }
      boolean allocated = extent.depth() == 0 && extent.present();
      if (position > runStart && allocated != runAllocated) {
        sink.accept(runStart, position - runStart, runAllocated);
        runStart = position;
      }
      runAllocated = allocated;
      position += extent.length();
    }
    if (position > runStart) {
      sink.accept(runStart, position - runStart, runAllocated);
    }
  }

  /**
   * The map entry of one extent of {@code disk}; compressed clusters have no usable host offset,
   * and a layer in no host file (an NBD export) is named as QEMU names the node.
   */
  static MapEntry entryOf(Extent extent, DiskFile disk) {
    boolean hasOffset = extent.hostOffset() >= 0 && !extent.compressed();
    String filename = !hasOffset ? null : extent.file() != null ? extent.file().toString()
        : nodeFilename(disk, extent.depth());
    return new MapEntry(extent.start(), extent.length(), extent.depth(), extent.present(), extent.zero(),
        extent.data(), hasOffset ? extent.hostOffset() : -1, filename);
  }

  /** The node name of the layer {@code depth} below {@code disk}, when it is in no host file; else null. */
  private static String nodeFilename(DiskFile disk, int depth) {
    DiskFile layer = disk;
    for (int level = 0; layer != null && level < depth; level++) {
      layer = layer.backing().orElse(null);
    }
    return layer == null ? null : layer.nodeFilename();
  }
}
