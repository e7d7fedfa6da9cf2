package io.qcow4j.write;

import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.qcow2.QcowFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Random;

/**
 * Puts a shape's content in place before a concurrent workload: the backing file, then data the
 * workload will share with a snapshot or find compressed. Every sector is tagged with a setup
 * sequence number, and {@code initial[sector]} records it (0 for zeros).
 */
final class ShapeSetup {
  /** Sequence numbers of the setup's data; workload operations number from {@link #FIRST_WORKLOAD_SEQUENCE}. */
  static final long BACKING_SEQUENCE = 1;
  static final long SNAPSHOT_SEQUENCE = 2;
  static final long COMPRESSED_SEQUENCE = 3;
  static final long FIRST_WORKLOAD_SEQUENCE = 100;
  static final String BASE_NAME = "base.qcow2";
  static final String SNAPSHOT_NAME = "before";

  private ShapeSetup() {}

  /** The options to create the image with: the shape's, over the base when it has one. */
  static CreateOptions options(ImageShape shape) {
    CreateOptions options = shape.createOptions();
    return shape.backing() ? options.withBacking(BASE_NAME, ImageFormat.QCOW2) : options;
  }

  /** Makes {@code dir}/base.qcow2 when the shape has a backing file, half of it tagged data. */
  static void makeBase(Path dir, ImageShape shape, Random random, long[] initial) throws IOException {
    if (!shape.backing()) {
      return;
    }
    try (QcowFile base = QcowFile.create(dir.resolve(BASE_NAME), CreateOptions.of(shape.size()))) {
      writeExtents(base, random, initial, BACKING_SEQUENCE, shape.size() / 2);
    }
  }

  /**
   * Fills the new image as the shape asks (data then a snapshot of it, or compressed clusters)
   * and forces it, so that all of it is durable before the workload starts.
   */
  static void populate(QcowFile disk, ImageShape shape, Random random, long[] initial) throws IOException {
    if (shape.snapshot()) {
      writeExtents(disk, random, initial, SNAPSHOT_SEQUENCE, shape.size() * 3 / 5);
      disk.createSnapshot(SNAPSHOT_NAME);
    }
    if (shape.compressed()) {
      int clusterSize = disk.clusterSize();
      long clusters = shape.size() / clusterSize;
      for (long cluster = 0; cluster < clusters; cluster++) {
        if (random.nextInt(3) == 0) {
          writeCompressedCluster(disk, cluster * clusterSize, COMPRESSED_SEQUENCE);
          markSectors(initial, cluster * clusterSize, clusterSize, COMPRESSED_SEQUENCE);
        }
      }
    }
    disk.force(true);
  }

  /**
   * Writes the cluster at {@code offset} compressed, tagged with {@code sequence}; false when the
   * data would not shrink and a plain write was made instead.
   */
  static boolean writeCompressedCluster(QcowFile disk, long offset, long sequence) throws IOException {
    byte[] data = SectorTag.data(offset, disk.clusterSize(), sequence);
    byte[] compressed = disk.compressCluster(ByteBuffer.wrap(data));
    if (compressed == null) {
      disk.writeFully(ByteBuffer.wrap(data), offset);
      return false;
    }
    disk.writeCompressed(offset, compressed);
    return true;
  }

  /** Writes tagged extents of up to 256 KiB at random until about {@code bytes} were written. */
  private static void writeExtents(QcowFile disk, Random random, long[] initial, long sequence, long bytes)
      throws IOException {
    long size = disk.size();
    long sectors = size / SectorTag.SECTOR;
    long written = 0;
    while (written < bytes) {
      long first = random.nextLong(sectors);
      long count = Math.min(sectors - first, 1 + random.nextInt(512));
      long offset = first * SectorTag.SECTOR;
      int length = (int) (count * SectorTag.SECTOR);
      disk.writeFully(ByteBuffer.wrap(SectorTag.data(offset, length, sequence)), offset);
      markSectors(initial, offset, length, sequence);
      written += length;
    }
  }

  private static void markSectors(long[] initial, long offset, long length, long sequence) {
    for (long sector = offset / SectorTag.SECTOR; sector < (offset + length) / SectorTag.SECTOR; sector++) {
      initial[(int) sector] = sequence;
    }
  }
}
