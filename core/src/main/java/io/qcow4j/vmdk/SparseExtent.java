package io.qcow4j.vmdk;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.storage.Storage;
import io.qcow4j.vmdk.format.Marker;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * A sparse extent (hosted KDMV, streamOptimized, or ESX's COWD): a grain directory read at open,
 * grain tables read on demand into a bounded LRU cache, and grains mapped through them. A grain
 * table entry of 0 is unallocated; of 1, with the zeroed-grain flag, a grain of zeros; anything
 * else the sector of the grain (of its marker, when compressed). Every pointer is checked against
 * the file's size where it is used.
 */
final class SparseExtent implements VmdkExtent {
  private final long startSector;
  private final long sectors;
  private final Storage storage;
  private final Path path;
  private final String type;
  private final long grainSectors;
  private final int gtesPerGt;
  /** The grain directory: for each grain table, its sector (0: none), unsigned. */
  private final int[] grainDirectory;
  private final boolean compressed;
  private final boolean markers;
  private final boolean zeroedGrains;
  private final long fileSize;
  private final int maxCachedTables;
  private final Map<Integer, int[]> tableCache = new LinkedHashMap<>(16, 0.75f, true);
  /** The last inflated grain, for reads that walk a compressed grain in pieces. */
  private volatile InflatedGrain lastGrain;

  private record InflatedGrain(long hostOffset, byte[] bytes, int length) {}

  SparseExtent(long startSector, long sectors, Storage storage, Path path, String type, long grainSectors,
      int gtesPerGt, int[] grainDirectory, boolean compressed, boolean markers, boolean zeroedGrains, long fileSize,
      long cacheBytes) {
    this.startSector = startSector;
    this.sectors = sectors;
    this.storage = storage;
    this.path = path;
    this.type = type;
    this.grainSectors = grainSectors;
    this.gtesPerGt = gtesPerGt;
    this.grainDirectory = grainDirectory;
    this.compressed = compressed;
    this.markers = markers;
    this.zeroedGrains = zeroedGrains;
    this.fileSize = fileSize;
    this.maxCachedTables = (int) Math.max(16, Math.min(1 << 20, cacheBytes / (4L * gtesPerGt)));
  }

  @Override
  public long startSector() {
    return startSector;
  }

  @Override
  public long sectors() {
    return sectors;
  }

  @Override
  public Storage storage() {
    return storage;
  }

  @Override
  public Path path() {
    return path;
  }

  @Override
  public String type() {
    return type;
  }

  @Override
  public boolean flat() {
    return false;
  }

  @Override
  public boolean compressed() {
    return compressed;
  }

  @Override
  public long grainBytes() {
    return grainSectors << 9;
  }

  @Override
  public Mapping map(long extentOffset) throws IOException {
    long grainBytes = grainBytes();
    long grainIndex = extentOffset / grainBytes;
    long inGrain = extentOffset % grainBytes;
    long tableIndex = grainIndex / gtesPerGt;
    if (tableIndex >= grainDirectory.length) {
      throw new CorruptImageException(name() + ": guest offset " + ((startSector << 9) + extentOffset)
          + " needs grain directory entry " + tableIndex + ", but the directory has " + grainDirectory.length);
    }
    long tableSector = Integer.toUnsignedLong(grainDirectory[(int) tableIndex]);
    long extentLeft = byteSize() - extentOffset;
    int entryIndex = (int) (grainIndex % gtesPerGt);
    if (tableSector == 0) {
      long tableEnd = (tableIndex + 1) * gtesPerGt * grainBytes;
      return new Mapping(Kind.UNALLOCATED, -1, Math.min(tableEnd - extentOffset, extentLeft));
    }
    int[] table = table((int) tableIndex, tableSector);
    Kind kind = kindOf(table[entryIndex]);
    long hostOffset = hostOffset(table, entryIndex, kind);
    long length = grainBytes - inGrain;
    if (kind != Kind.COMPRESSED) {
      // take the following grains of the table that map the same way (and, for data, contiguously)
      for (int next = entryIndex + 1; next < gtesPerGt && length < extentLeft; next++) {
        Kind nextKind = kindOf(table[next]);
        if (nextKind != kind
            || kind == Kind.DATA && ((Integer.toUnsignedLong(table[next]) << 9) != hostOffset + inGrain + length
                || hostOffset + inGrain + length >= fileSize)) {
          break;
        }
        length += grainBytes;
      }
    }
    length = Math.min(length, extentLeft);
    return new Mapping(kind, kind == Kind.DATA ? hostOffset + inGrain : hostOffset, length);
  }

  private Kind kindOf(int entry) {
    if (entry == 0) {
      return Kind.UNALLOCATED;
    }
    if (entry == 1 && zeroedGrains) {
      return Kind.ZERO;
    }
    return compressed ? Kind.COMPRESSED : Kind.DATA;
  }

  /** The host offset of the grain (of its marker when compressed) an entry points at, checked against the file. */
  private long hostOffset(int[] table, int entryIndex, Kind kind) throws CorruptImageException {
    if (kind != Kind.DATA && kind != Kind.COMPRESSED) {
      return -1;
    }
    long hostOffset = Integer.toUnsignedLong(table[entryIndex]) << 9;
    if (hostOffset >= fileSize) {
      throw new CorruptImageException(name() + ": grain table entry " + entryIndex + " points at host offset "
          + hostOffset + ", past the end of the file (" + fileSize + " bytes)");
    }
    return hostOffset;
  }

  private int[] table(int tableIndex, long tableSector) throws IOException {
    synchronized (tableCache) {
      int[] cached = tableCache.get(tableIndex);
      if (cached != null) {
        return cached;
      }
    }
    long tableOffset = tableSector << 9;
    long tableBytes = 4L * gtesPerGt;
    if (tableOffset + tableBytes > fileSize) {
      throw new CorruptImageException(name() + ": grain table " + tableIndex + " at host offset " + tableOffset
          + " lies past the end of the file (" + fileSize + " bytes)");
    }
    ByteBuffer bytes = ByteBuffer.allocate((int) tableBytes);
    storage.readOrZero(bytes, tableOffset);
    int[] table = new int[gtesPerGt];
    bytes.flip().order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(table);
    synchronized (tableCache) {
      tableCache.put(tableIndex, table);
      if (tableCache.size() > maxCachedTables) {
        tableCache.remove(tableCache.keySet().iterator().next());
      }
    }
    return table;
  }

  @Override
  public void readCompressed(ByteBuffer dst, long extentOffset) throws IOException {
    Mapping mapping = map(extentOffset);
    if (mapping.kind() != Kind.COMPRESSED) {
      throw new IllegalStateException("not a compressed grain at " + extentOffset);
    }
    InflatedGrain grain = lastGrain;
    if (grain == null || grain.hostOffset() != mapping.hostOffset()) {
      grain = inflate(mapping.hostOffset());
      lastGrain = grain;
    }
    int inGrain = (int) (extentOffset % grainBytes());
    int count = dst.remaining();
    if (inGrain + count > grain.length()) {
      throw new CorruptImageException(name() + ": compressed grain at host offset " + mapping.hostOffset()
          + " inflates to " + grain.length() + " bytes, too few for guest offset " + ((startSector << 9) + extentOffset));
    }
    dst.put(grain.bytes(), inGrain, count);
  }

  private InflatedGrain inflate(long hostOffset) throws IOException {
    int grainBytes = (int) grainBytes();
    long dataOffset = hostOffset;
    long dataLength = grainBytes;
    if (markers) {
      if (hostOffset + Marker.GRAIN_HEADER_BYTES > fileSize) {
        throw new CorruptImageException(name() + ": grain marker at host offset " + hostOffset
            + " lies past the end of the file (" + fileSize + " bytes)");
      }
      ByteBuffer header = ByteBuffer.allocate(Marker.GRAIN_HEADER_BYTES);
      storage.readOrZero(header, hostOffset);
      Marker marker = Marker.decode(header.flip());
      dataLength = marker.size();
      if (dataLength == 0 || dataLength > 2L * grainBytes) {
        throw new CorruptImageException(name() + ": compressed grain at host offset " + hostOffset + " has size "
            + dataLength + " (at most " + 2L * grainBytes + " for a grain of " + grainBytes + " bytes)");
      }
      dataOffset = hostOffset + Marker.GRAIN_HEADER_BYTES;
      if (dataOffset + dataLength > fileSize) {
        throw new CorruptImageException(name() + ": compressed grain at host offset " + hostOffset + " ("
            + dataLength + " bytes) runs past the end of the file (" + fileSize + " bytes)");
      }
    }
    byte[] input = new byte[(int) dataLength];
    storage.readOrZero(ByteBuffer.wrap(input), dataOffset);
    byte[] output = new byte[grainBytes];
    Inflater inflater = new Inflater();
    try {
      inflater.setInput(input);
      int produced = 0;
      while (!inflater.finished() && produced < output.length) {
        int count = inflater.inflate(output, produced, output.length - produced);
        if (count == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
          break;
        }
        produced += count;
      }
      if (!inflater.finished()) {
        throw new CorruptImageException(name() + ": compressed grain at host offset " + hostOffset
            + " is not a complete zlib stream of at most " + grainBytes + " bytes");
      }
      return new InflatedGrain(hostOffset, output, produced);
    } catch (DataFormatException e) {
      throw new CorruptImageException(name() + ": compressed grain at host offset " + hostOffset
          + " does not inflate: " + e.getMessage(), e);
    } finally {
      inflater.end();
    }
  }

  private String name() {
    return storage.name();
  }
}
