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
    // take the following grains of the table that map the same way (data contiguously); a run of
    // compressed grains is one mapping whose host offset is its first grain's
    for (int next = entryIndex + 1; next < gtesPerGt && length < extentLeft; next++) {
      Kind nextKind = kindOf(table[next]);
      if (nextKind != kind
          || kind == Kind.DATA && ((Integer.toUnsignedLong(table[next]) << 9) != hostOffset + inGrain + length
              || hostOffset + inGrain + length >= fileSize)) {
        break;
      }
      length += grainBytes;
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
    int grainBytes = (int) grainBytes();
    int inGrain = (int) (extentOffset % grainBytes);
    int count = dst.remaining();
    if (inGrain == 0 && count == grainBytes) {
      // a whole grain inflates straight into the caller's buffer
      int start = dst.position();
      int produced = inflate(mapping.hostOffset(), dst.slice(start, grainBytes));
      requireInflated(mapping.hostOffset(), produced, grainBytes, extentOffset);
      dst.position(start + grainBytes);
      return;
    }
    InflatedGrain grain = lastGrain;
    if (grain == null || grain.hostOffset() != mapping.hostOffset()) {
      byte[] bytes = new byte[grainBytes];
      grain = new InflatedGrain(mapping.hostOffset(), bytes, inflate(mapping.hostOffset(), ByteBuffer.wrap(bytes)));
      lastGrain = grain;
    }
    requireInflated(mapping.hostOffset(), grain.length(), inGrain + count, extentOffset);
    dst.put(grain.bytes(), inGrain, count);
  }

  private void requireInflated(long hostOffset, int produced, int needed, long extentOffset)
      throws CorruptImageException {
    if (needed > produced) {
      throw new CorruptImageException(name() + ": compressed grain at host offset " + hostOffset + " inflates to "
          + produced + " bytes, too few for guest offset " + ((startSector << 9) + extentOffset));
    }
  }

  /** Scratch input of the reading thread: a grain's marker and compressed bytes. */
  private static final ThreadLocal<ByteBuffer> INPUT = ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(0));
  private static final ThreadLocal<Inflater> INFLATER = ThreadLocal.withInitial(Inflater::new);
  /** What the first read of a compressed grain takes: its marker and, usually, all of its data. */
  private static final int FIRST_READ_BYTES = 16 << 10;

  /** Inflates the grain whose marker (or data) is at {@code hostOffset} into {@code output}; returns its size. */
  private int inflate(long hostOffset, ByteBuffer output) throws IOException {
    int grainBytes = (int) grainBytes();
    ByteBuffer input = input(2 * grainBytes + Marker.GRAIN_HEADER_BYTES);
    int dataStart = 0;
    int dataEnd;
    if (markers) {
      if (hostOffset + Marker.GRAIN_HEADER_BYTES > fileSize) {
        throw new CorruptImageException(name() + ": grain marker at host offset " + hostOffset
            + " lies past the end of the file (" + fileSize + " bytes)");
      }
      int first = (int) Math.min(Math.min(FIRST_READ_BYTES, input.capacity()), fileSize - hostOffset);
      input.limit(first);
      storage.readOrZero(input, hostOffset);
      long dataLength = Marker.decode(input.duplicate().position(0).limit(Marker.GRAIN_HEADER_BYTES)).size();
      if (dataLength == 0 || dataLength > 2L * grainBytes) {
        throw new CorruptImageException(name() + ": compressed grain at host offset " + hostOffset + " has size "
            + dataLength + " (at most " + 2L * grainBytes + " for a grain of " + grainBytes + " bytes)");
      }
      dataStart = Marker.GRAIN_HEADER_BYTES;
      dataEnd = (int) (dataStart + dataLength);
      if (hostOffset + dataEnd > fileSize) {
        throw new CorruptImageException(name() + ": compressed grain at host offset " + hostOffset + " ("
            + dataLength + " bytes) runs past the end of the file (" + fileSize + " bytes)");
      }
      if (dataEnd > first) {
        input.limit(dataEnd).position(first);
        storage.readOrZero(input, hostOffset + first);
      }
    } else {
      dataEnd = grainBytes;
      input.limit(dataEnd);
      storage.readOrZero(input, hostOffset);
    }
    input.limit(dataEnd).position(dataStart);
    Inflater inflater = INFLATER.get();
    inflater.reset();
    inflater.setInput(input);
    int start = output.position();
    try {
      while (!inflater.finished() && output.hasRemaining()) {
        if (inflater.inflate(output) == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
          break;
        }
      }
      if (!inflater.finished()) {
        throw new CorruptImageException(name() + ": compressed grain at host offset " + hostOffset
            + " is not a complete zlib stream of at most " + grainBytes + " bytes");
      }
      return output.position() - start;
    } catch (DataFormatException e) {
      throw new CorruptImageException(name() + ": compressed grain at host offset " + hostOffset
          + " does not inflate: " + e.getMessage(), e);
    } finally {
      inflater.reset();
    }
  }

  private static ByteBuffer input(int capacity) {
    ByteBuffer input = INPUT.get();
    if (input.capacity() < capacity) {
      input = ByteBuffer.allocateDirect(capacity);
      INPUT.set(input);
    }
    return input.clear();
  }

  private String name() {
    return storage.name();
  }
}
