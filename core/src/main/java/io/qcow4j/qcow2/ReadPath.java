package io.qcow4j.qcow2;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.HostRange;
import io.qcow4j.qcow2.format.CompressedDescriptor;
import io.qcow4j.qcow2.format.Header;
import io.qcow4j.qcow2.format.L2Entry;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Optional;

/**
 * The read side of a qcow2 image: guest ranges become host reads (contiguous data gathered into one
 * I/O), zeros, reads of the backing file and decompressed clusters.
 */
final class ReadPath {
  private final QcowFile image;
  private final String name;
  private final Storage storage;
  private final Storage dataStorage;
  private final int clusterSize;
  private final ClusterLookup lookup;
  private final OverlapGuard guard;
  private final FileSize fileSize;
  private final FileSize dataFileSize;
  /**
   * The last cluster decompressed, by its L2 entry (host offset and length). Forgotten whenever
   * host clusters are freed ({@link #forgetDecompressed}): a new compressed cluster may get the
   * same offset and length, so the same entry, with other bytes.
   */
  private volatile DecompressedCluster lastDecompressed;

  private record DecompressedCluster(long entry, ByteBuffer data) {}

  ReadPath(QcowFile image, Storage storage, Storage dataStorage, ClusterLookup lookup, OverlapGuard guard,
      FileSize fileSize, FileSize dataFileSize) {
    this.image = image;
    this.name = storage.name();
    this.storage = storage;
    this.dataStorage = dataStorage;
    this.clusterSize = image.clusterSize();
    this.lookup = lookup;
    this.guard = guard;
    this.fileSize = fileSize;
    this.dataFileSize = dataFileSize;
  }

  /**
   * Fills {@code dst} with what this layer reads at {@code guestOffset} now; bytes past the virtual
   * size read as zeros. For copy-on-write: the caller holds the locks it needs.
   */
  void readLayer(ByteBuffer dst, long guestOffset) throws IOException {
    int inside = (int) Math.max(0, Math.min(dst.remaining(), image.header().size() - guestOffset));
    int tail = dst.remaining() - inside;
    if (inside > 0) {
      readRange(dst, guestOffset, inside);
    }
    fillZeros(dst.slice(dst.position(), tail));
    dst.position(dst.position() + tail);
  }

  /** Reads {@code count} bytes of the disk at {@code position} (all inside it) into {@code dst}. */
  void readRange(ByteBuffer dst, long position, int count) throws IOException {
    readRange(new BufferList(new ByteBuffer[] {dst.slice(dst.position(), count)}), position);
    dst.position(dst.position() + count);
  }

  /**
   * Reads the disk at {@code position} (the whole range inside it) into the buffers, without moving
   * their positions. Host data contiguous across runs and buffers goes out as one I/O.
   */
  void readRange(BufferList dst, long position) throws IOException {
    long guestEnd = position + dst.length();
    long cursor = position;
    long pendingHost = -1;
    long pendingAt = 0;
    long pendingLength = 0;
    while (cursor < guestEnd) {
      Run run = lookupSignalled(cursor, guestEnd - cursor);
      long at = cursor - position;
      int length = (int) run.length();
      if (run.kind() == L2Entry.Kind.DATA && pendingHost >= 0 && pendingHost + pendingLength == run.hostOffset()) {
        pendingLength += length;
      } else {
        if (pendingHost >= 0) {
          readHost(dst.slices(pendingAt, pendingLength), pendingLength, pendingHost, position + pendingAt);
          pendingHost = -1;
        }
        switch (run.kind()) {
          case DATA -> {
            pendingHost = run.hostOffset();
            pendingAt = at;
            pendingLength = length;
          }
          case ZERO -> fillZeros(dst.slices(at, length));
          case UNALLOCATED -> readBacking(dst.slices(at, length), cursor);
          case COMPRESSED -> readCompressed(dst.slices(at, length), cursor, run.entry());
        }
      }
      cursor += length;
    }
    if (pendingHost >= 0) {
      readHost(dst.slices(pendingAt, pendingLength), pendingLength, pendingHost, position + pendingAt);
    }
  }

  /**
   * The mapping at {@code guestOffset} for a read. A damaged entry that QEMU's read path signals
   * (qcow2_get_host_offset: an invalid subcluster bitmap, an unaligned host cluster) marks a
   * writable image corrupt, as qcow2_signal_corruption does; a read-only one is left as it is.
   */
  private Run lookupSignalled(long guestOffset, long maxLength) throws IOException {
    try {
      return lookup.lookup(guestOffset, maxLength);
    } catch (CorruptImageException e) {
      if (e.hasEvent() && !image.isReadOnly()) {
        throw image.signalCorruption(e);
      }
      throw e;
    }
  }

  /**
   * Where the range (inside the disk) lies in the data file when this layer keeps it as data
   * contiguous on the host, unencrypted; empty otherwise (zeros, holes, compressed clusters, a
   * backing file's ranges, the unwritten tail of a cluster past the end of the file).
   */
  Optional<HostRange> hostRange(long position, long length) throws IOException {
    if (image.encryption() != null) {
      return Optional.empty();
    }
    long hostStart = -1;
    long cursor = position;
    long end = position + length;
    while (cursor < end) {
      Run run = lookup.lookup(cursor, end - cursor);
      if (run.kind() != L2Entry.Kind.DATA || (hostStart >= 0 && run.hostOffset() != hostStart + (cursor - position))) {
        return Optional.empty();
      }
      if (hostStart < 0) {
        hostStart = run.hostOffset();
      }
      cursor += run.length();
    }
    if (dataStorage == storage) {
      guard.check(hostStart, length, OverlapGuard.WRITES_ONLY, 0, "data read");
    }
    // the unwritten tail of the last cluster may lie past the end of the file
    if (hostStart + length > dataStorage.size()) {
      return Optional.empty();
    }
    return Optional.of(new HostRange(dataStorage, hostStart));
  }

  private void readHost(ByteBuffer[] slices, long length, long hostOffset, long guestOffset) throws IOException {
    // Every data cluster holds at least one written byte, so its start lies inside the file; the
    // unwritten tail of a fresh cluster may lie past the end and reads as zeros.
    long lastCluster = (hostOffset + length - 1) & ~(clusterSize - 1L);
    if (dataStorage == storage) {
      guard.check(hostOffset, length, OverlapGuard.WRITES_ONLY, 0, "data read");
      if (lastCluster >= dataFileSize.atLeast(lastCluster + 1)) {
        throw new CorruptImageException(String.format("%s: data cluster at host offset 0x%x lies past the end of the image",
            name, lastCluster));
      }
    }
    QcowEncryption encryption = image.encryption();
    ByteBuffer[] read = slices;
    if (encryption != null) {
      // the reads move their buffers: these views keep where the bytes to decrypt are
      read = new ByteBuffer[slices.length];
      for (int i = 0; i < slices.length; i++) {
        read[i] = slices[i].duplicate();
      }
    }
    dataStorage.debugEvent("read_aio");
    if (read.length == 1) {
      // One buffer goes through the channel, which lets a virtual thread's carrier go meanwhile.
      dataStorage.readOrZero(read[0], hostOffset);
    } else {
      dataStorage.readOrZero(read, hostOffset);
    }
    if (encryption != null) {
      encryption.decrypt(slices, hostOffset, guestOffset);
    }
  }

  private void readBacking(ByteBuffer[] slices, long guestOffset) throws IOException {
    DiskFile backing = image.backingDisk();
    if (backing != null) {
      // raised on this image's file, as QEMU's: a rule it arms fails this file's next request
      storage.debugEvent("read_backing_aio");
    }
    long cursor = guestOffset;
    for (ByteBuffer slice : slices) {
      int length = slice.remaining();
      if (backing == null) {
        fillZeros(slice);
      } else {
        int fromBacking = (int) Math.max(0, Math.min(length, backing.size() - cursor));
        if (fromBacking > 0) {
          backing.readFully(slice.slice(0, fromBacking), cursor);
        }
        fillZeros(slice.slice(fromBacking, length - fromBacking));
      }
      cursor += length;
    }
  }

  private void readCompressed(ByteBuffer[] slices, long guestOffset, long entry) throws IOException {
    int inCluster = (int) (guestOffset & (clusterSize - 1));
    if (slices.length == 1 && inCluster == 0 && slices[0].remaining() == clusterSize) {
      // a whole cluster (a sequential read, a convert): decompressed straight into the caller's
      // buffer, no copy and nothing kept
      DecompressedCluster last = lastDecompressed;
      if (last == null || last.entry() != entry) {
        decompressInto(entry, slices[0].duplicate());
        return;
      }
    }
    ByteBuffer cluster = decompressedCluster(entry);
    for (ByteBuffer slice : slices) {
      slice.put(0, cluster, inCluster, slice.remaining());
      inCluster += slice.remaining();
    }
  }

  /**
   * Forgets the last cluster decompressed: host clusters were freed, and compressed bytes placed
   * there later may have the same L2 entry. Called once no read that could still hold an entry of
   * a freed cluster is in flight (the frees wait for such reads), so none can put it back.
   */
  void forgetDecompressed() {
    lastDecompressed = null;
  }

  /** The cluster {@code entry} points at, decompressed, from the last one kept or decompressed and kept. */
  private ByteBuffer decompressedCluster(long entry) throws IOException {
    DecompressedCluster last = lastDecompressed;
    if (last != null && last.entry() == entry) {
      return last.data();
    }
    ByteBuffer cluster = ByteBuffer.allocate(clusterSize);
    decompressInto(entry, cluster);
    ByteBuffer data = cluster.flip().asReadOnlyBuffer();
    lastDecompressed = new DecompressedCluster(entry, data);
    return data;
  }

  /** Reads the compressed cluster {@code entry} points at and decompresses it into the next cluster's worth of {@code cluster}. */
  private void decompressInto(long entry, ByteBuffer cluster) throws IOException {
    Header header = image.header();
    if (header.hasDataFile()) {
      throw new CorruptImageException(name + ": compressed cluster (L2 entry 0x" + Long.toHexString(entry)
          + ") in an image with an external data file");
    }
    CompressedDescriptor descriptor = CompressedDescriptor.decode(entry, header.clusterBits());
    long end = fileSize.atLeast(descriptor.hostOffset() + descriptor.maxLength());
    guard.check(descriptor.hostOffset(), Math.min(descriptor.maxLength(), Math.max(1, end - descriptor.hostOffset())),
        OverlapGuard.WRITES_ONLY, 0, "compressed cluster read");
    if (descriptor.hostOffset() >= end) {
      throw new CorruptImageException(String.format(
          "%s: compressed cluster at host offset 0x%x (%d bytes) lies past the end of the image (%d bytes)",
          name, descriptor.hostOffset(), descriptor.maxLength(), end));
    }
    int compressedLength = (int) Math.min(descriptor.maxLength(), end - descriptor.hostOffset());
    ByteBuffer compressed = Compression.takeInput(compressedLength);
    try {
      storage.debugEvent("read_compressed");
      storage.readFully(compressed, descriptor.hostOffset());
      Compression.decompress(header.compressionType(), compressed.flip(), cluster.limit(cluster.position() + clusterSize),
          name, descriptor.hostOffset());
    } finally {
      Compression.giveInput(compressed);
    }
  }

  private static void fillZeros(ByteBuffer[] slices) {
    for (ByteBuffer slice : slices) {
      fillZeros(slice);
    }
  }

  private static void fillZeros(ByteBuffer slice) {
    int length = slice.remaining();
    if (slice.hasArray()) {
      int from = slice.arrayOffset() + slice.position();
      java.util.Arrays.fill(slice.array(), from, from + length, (byte) 0);
      return;
    }
    for (int index = 0; index < length; index++) {
      slice.put(slice.position() + index, (byte) 0);
    }
  }
}
