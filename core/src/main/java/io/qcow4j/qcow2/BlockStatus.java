package io.qcow4j.qcow2;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.internal.storage.HostFiles;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.RefcountBlock;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * Answers block-status queries (qemu-img map): how each guest range is stored, in this layer or
 * deeper in the chain.
 */
final class BlockStatus {
  private final QcowFile image;
  private final Path path;
  private final String name;
  private final Storage storage;
  private final Storage dataStorage;
  private final Path dataPath;
  private final int clusterSize;
  private final ClusterLookup lookup;
  private volatile Boolean metadataPreallocation;

  BlockStatus(QcowFile image, Path path, Storage storage, Storage dataStorage, Path dataPath, ClusterLookup lookup) {
    this.image = image;
    this.path = path;
    this.name = storage.name();
    this.storage = storage;
    this.dataStorage = dataStorage;
    this.dataPath = dataPath;
    this.clusterSize = image.clusterSize();
    this.lookup = lookup;
  }

  /** The extent at {@code offset} (inside the disk): how up to {@code maxLength} bytes from there are stored. */
  Extent extentAt(long offset, long maxLength) throws IOException {
    long size = image.header().size();
    if (offset < 0 || offset >= size || maxLength <= 0) {
      throw new IllegalArgumentException(name + ": block status at " + offset + " outside the disk (" + size + " bytes)");
    }
    long length = Math.min(maxLength, size - offset);
    Run run;
    try {
      run = lookup.lookup(offset, length);
    } catch (io.qcow4j.disk.CorruptImageException e) {
      // qcow2_co_block_status finds damaged entries through qcow2_get_host_offset, which signals
      // them (qcow4j's overlap check of a table read has no counterpart there)
      throw e.hasEvent() && !OverlapGuard.isOverlap(e) ? image.signalCorruption(e) : e;
    }
    return switch (run.kind()) {
      case DATA -> dataExtent(run);
      case ZERO -> new Extent(offset, run.length(), 0, true, true, false, false,
          run.hostOffset() == Run.NO_HOST ? -1 : run.hostOffset(), run.hostOffset() == Run.NO_HOST ? null : dataPath);
      case COMPRESSED -> new Extent(offset, run.length(), 0, true, false, true, true, -1, null);
      case UNALLOCATED -> backingExtent(offset, run.length(), run.hostOffset());
    };
  }

  private Extent dataExtent(Run run) throws IOException {
    // A data cluster whose host range in the image file is a hole reads as zeros, as QEMU reports
    // it, but like QEMU only in images that look metadata-preallocated (elsewhere partly written
    // clusters stay data); QEMU never looks for holes in an external data file.
    if (!metadataPreallocated()) {
      return new Extent(run.guestOffset(), run.length(), 0, true, false, true, false, run.hostOffset(), dataPath);
    }
    long hole = dataStorage == storage ? storage.nextData(run.hostOffset()) : run.hostOffset();
    if (hole > run.hostOffset()) {
      long length = Math.min(run.length(), hole - run.hostOffset());
      return new Extent(run.guestOffset(), length, 0, true, true, true, false, run.hostOffset(), dataPath);
    }
    long dataEnd = dataStorage == storage ? storage.nextHole(run.hostOffset()) : run.hostOffset() + run.length();
    long length = Math.min(run.length(), dataEnd - run.hostOffset());
    return new Extent(run.guestOffset(), length, 0, true, false, true, false, run.hostOffset(), dataPath);
  }

  /**
   * QEMU's qcow2_detect_metadata_preallocation: far more clusters have a refcount than the file
   * occupies on the host. Decided once, on the first block-status query; it reads refcount blocks
   * only until the threshold is reached.
   */
  private boolean metadataPreallocated() throws IOException {
    Boolean known = metadataPreallocation;
    if (known == null) {
      known = detectMetadataPreallocation();
      metadataPreallocation = known;
    }
    return known;
  }

  private boolean detectMetadataPreallocation() throws IOException {
    Header header = image.header();
    long fileLength = storage.size();
    long realClusters = HostFiles.allocatedBytes(path) / clusterSize;
    long threshold = Math.max(realClusters * 10 / 9, realClusters + 2);
    long endCluster = (fileLength + clusterSize - 1) / clusterSize;
    long perBlock = RefcountBlock.entries(clusterSize, header.refcountOrder());
    long tableEntries = (long) header.refcountTableClusters() * clusterSize / 8;
    byte[] block = new byte[clusterSize];
    long counted = 0;
    for (long blockIndex = 0; blockIndex * perBlock < endCluster && blockIndex < tableEntries && counted < threshold;
        blockIndex++) {
      ByteBuffer entry = ByteBuffer.allocate(8);
      storage.readOrZero(entry, header.refcountTableOffset() + blockIndex * 8);
      long blockOffset = entry.getLong(0) & ~(clusterSize - 1L) & 0x00ff_ffff_ffff_ffffL;
      if (blockOffset == 0 || blockOffset >= fileLength) {
        continue;
      }
      storage.readOrZero(ByteBuffer.wrap(block), blockOffset);
      long first = blockIndex * perBlock;
      for (long index = 0; index < perBlock && first + index < endCluster && counted < threshold; index++) {
        if (RefcountBlock.get(block, (int) index, header.refcountOrder()) != 0) {
          counted++;
        }
      }
    }
    return counted >= threshold;
  }

  /**
   * The status of a range this layer leaves unallocated: its backing file's, one level deeper;
   * zeros of this layer where there is none or past its end. Unallocated subclusters of a cluster
   * with host space ({@code hostOffset}, else {@link Run#NO_HOST}) keep that offset there, as
   * QEMU's qcow2_co_block_status reports it for QCOW2_SUBCLUSTER_UNALLOCATED_ALLOC.
   */
  private Extent backingExtent(long offset, long length, long hostOffset) throws IOException {
    DiskFile backing = image.backingDisk();
    // past the end of a shorter backing file this layer itself reads as zeros (QEMU reports depth 0 here)
    if (backing == null || offset >= backing.size()) {
      boolean hasHost = hostOffset != Run.NO_HOST;
      return new Extent(offset, length, 0, false, true, false, false, hasHost ? hostOffset : -1,
          hasHost ? dataPath : null);
    }
    long backingSize = backing.size();
    return backing.blockStatus(offset, Math.min(length, backingSize - offset)).deeper();
  }
}
