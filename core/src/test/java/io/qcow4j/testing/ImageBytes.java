package io.qcow4j.testing;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Big-endian field reads and writes at byte offsets of an image file, for tests that patch images
 * made by qemu-img, plus the qcow2 header offsets and the lookups such patches need.
 */
public final class ImageBytes implements AutoCloseable {
  // Header field offsets, from QEMU's docs/interop/qcow2.rst.
  public static final int VERSION = 4;
  public static final int BACKING_FILE_OFFSET = 8;
  public static final int BACKING_FILE_SIZE = 16;
  public static final int CLUSTER_BITS = 20;
  public static final int SIZE = 24;
  public static final int CRYPT_METHOD = 32;
  public static final int L1_SIZE = 36;
  public static final int L1_TABLE_OFFSET = 40;
  public static final int REFCOUNT_TABLE_OFFSET = 48;
  public static final int REFCOUNT_TABLE_CLUSTERS = 56;
  public static final int NB_SNAPSHOTS = 60;
  public static final int SNAPSHOTS_OFFSET = 64;
  public static final int INCOMPATIBLE_FEATURES = 72;
  public static final int COMPATIBLE_FEATURES = 80;
  public static final int AUTOCLEAR_FEATURES = 88;
  public static final int REFCOUNT_ORDER = 96;
  public static final int HEADER_LENGTH = 100;
  public static final int COMPRESSION_TYPE = 104;
  public static final int V2_HEADER_LENGTH = 72;

  public static final int EXTENSION_END = 0;
  public static final int EXTENSION_BACKING_FORMAT = 0xe2792aca;
  public static final int EXTENSION_FEATURE_NAMES = 0x6803f857;
  public static final int EXTENSION_DATA_FILE = 0x44415441;

  /** L2 (and L1) entry bits. */
  public static final long OFLAG_COPIED = 1L << 63;
  public static final long OFLAG_COMPRESSED = 1L << 62;
  public static final long OFLAG_ZERO = 1L;
  public static final long OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;

  private final FileChannel channel;

  private ImageBytes(FileChannel channel) {
    this.channel = channel;
  }

  /** Opens {@code path} for reading and patching. */
  public static ImageBytes open(Path path) throws IOException {
    return new ImageBytes(FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE));
  }

  public int u8(long offset) throws IOException {
    return read(offset, 1).get() & 0xff;
  }

  public int u32(long offset) throws IOException {
    return read(offset, 4).getInt();
  }

  public long u64(long offset) throws IOException {
    return read(offset, 8).getLong();
  }

  public ImageBytes putU8(long offset, int value) throws IOException {
    return write(offset, ByteBuffer.allocate(1).put(0, (byte) value));
  }

  public ImageBytes putU32(long offset, int value) throws IOException {
    return write(offset, ByteBuffer.allocate(4).putInt(0, value));
  }

  public ImageBytes putU64(long offset, long value) throws IOException {
    return write(offset, ByteBuffer.allocate(8).putLong(0, value));
  }

  public ImageBytes putBytes(long offset, byte[] bytes) throws IOException {
    return write(offset, ByteBuffer.wrap(bytes));
  }

  /** The size of the file in bytes. */
  public long fileSize() throws IOException {
    return channel.size();
  }

  /** The cluster size the header declares. */
  public int clusterSize() throws IOException {
    return 1 << u32(CLUSTER_BITS);
  }

  /** The file offset of the L2 entry that maps guest offset {@code guestOffset} (standard L2 only). */
  public long l2EntryOffset(long guestOffset) throws IOException {
    int clusterBits = u32(CLUSTER_BITS);
    long l2Entries = 1L << (clusterBits - 3);
    long guestCluster = guestOffset >>> clusterBits;
    long l1Entry = u64(u64(L1_TABLE_OFFSET) + 8 * (guestCluster / l2Entries));
    long l2TableOffset = l1Entry & OFFSET_MASK;
    if (l2TableOffset == 0) {
      throw new IllegalStateException("guest offset " + guestOffset + " has no L2 table");
    }
    return l2TableOffset + 8 * (guestCluster % l2Entries);
  }

  /** The file offset of the first header extension of {@code type}, or -1; its length is the u32 after the type. */
  public long findExtension(int type) throws IOException {
    long offset = u32(VERSION) >= 3 ? u32(HEADER_LENGTH) : V2_HEADER_LENGTH;
    long end = clusterSize();
    while (offset + 8 <= end) {
      int found = u32(offset);
      if (found == type) {
        return offset;
      }
      if (found == EXTENSION_END) {
        return -1;
      }
      offset += 8 + ((u32(offset + 4) + 7L) & ~7L);
    }
    return -1;
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }

  private ByteBuffer read(long offset, int length) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(length);
    while (buffer.hasRemaining()) {
      if (channel.read(buffer, offset + buffer.position()) < 0) {
        throw new IOException("read of " + length + " bytes at " + offset + " crosses the end of the file");
      }
    }
    return buffer.flip();
  }

  private ImageBytes write(long offset, ByteBuffer buffer) throws IOException {
    while (buffer.hasRemaining()) {
      channel.write(buffer, offset + buffer.position());
    }
    return this;
  }
}
