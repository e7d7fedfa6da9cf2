package io.qcow4j.ops;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * The layers of a backing chain above some base, each opened alone, seen as one disk that knows
 * which ranges they decide: allocated in one of them, or reading as zeros because a layer above is
 * longer than the one below it. Reads never touch the base, which the caller may be writing.
 */
final class LayersAbove {
  /**
   * {@code length} bytes decided by layer {@code layer} (-1: by the base or below), zeros or not,
   * data (host data in the layer) or not.
   */
  record Piece(long length, int layer, boolean zero, boolean data) {
    boolean decidedAbove() {
      return layer >= 0;
    }
  }

  private final List<DiskFile> layers;

  /** {@code layers} from the top down, each opened without its backing file. */
  LayersAbove(List<DiskFile> layers) {
    this.layers = List.copyOf(layers);
  }

  /** The longest uniform piece at {@code offset} (inside the top layer), at most {@code maxLength} bytes. */
  Piece status(long offset, long maxLength) throws IOException {
    long length = maxLength;
    for (int index = 0; index < layers.size(); index++) {
      DiskFile layer = layers.get(index);
      long layerSize = layer.size();
      if (offset >= layerSize) {
        // the layer above is longer: it reads zeros here whatever lies below
        return new Piece(length, index - 1, true, false);
      }
      Extent extent = layer.blockStatus(offset, Math.min(length, layerSize - offset));
      length = extent.length();
      if (extent.present()) {
        return new Piece(length, index, extent.zero(), extent.data());
      }
    }
    return new Piece(length, -1, false, false);
  }

  /** Fills {@code dst} from {@code offset} with what layer {@code layer} (which decides the range) holds. */
  void read(int layer, ByteBuffer dst, long offset) throws IOException {
    layers.get(layer).readFully(dst, offset);
  }
}
