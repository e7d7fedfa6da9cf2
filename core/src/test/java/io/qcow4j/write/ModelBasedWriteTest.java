package io.qcow4j.write;

import io.qcow4j.testing.Discards;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

import io.qcow4j.disk.CheckResult;
import io.qcow4j.disk.Compat;
import io.qcow4j.disk.CompressionType;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskChannel;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.Preallocation;
import io.qcow4j.qcow2.QcowFile;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Random;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Seeded random sequences of every write-side operation, internal snapshots (create, apply,
 * delete) included, against a byte-array model, over every create option and over backing chains;
 * each sequence ends with our check and qemu-img check (no errors, no leaks), qemu-img compare
 * against the model, and every remaining snapshot applied and compared. A failure names the seed and the last operations;
 * rerun one with -DQCOW4J_SEED=seed, adding -DQCOW4J_FULL_LOG=1 for every operation in the message
 * and -DQCOW4J_PARANOID=1 to compare the whole disk after each operation.
 */
class ModelBasedWriteTest {
  private static final long MIB = 1 << 20;

  /** Kept when a test fails, with the failing image in it. */
  @TempDir(cleanup = CleanupMode.ON_SUCCESS) Path dir;

  enum Base { NONE, RAW, QCOW2 }

  /** One image shape: the create options, an optional base made by qemu-img, the cache budget. */
  record Shape(String name, long size, UnaryOperator<CreateOptions> options, Base base, long cacheBytes) {
    @Override
    public String toString() {
      return name;
    }

    Shape withCache(long bytes) {
      return new Shape(name + ",cache=" + bytes, size, options, base, bytes);
    }
  }

  private static Shape shape(String name, long size, UnaryOperator<CreateOptions> options) {
    return new Shape(name, size, options, Base.NONE, OpenOptions.DEFAULT_CACHE_BYTES);
  }

  private static Shape chain(String name, long size, Base base, UnaryOperator<CreateOptions> options) {
    return new Shape(name, size, options, base, OpenOptions.DEFAULT_CACHE_BYTES);
  }

  static List<Shape> shapes() {
    return List.of(
        shape("defaults", 8 * MIB, o -> o),
        shape("cluster=512", 4 * MIB, o -> o.withClusterSize(512)),
        shape("cluster=4k", 8 * MIB, o -> o.withClusterSize(4096)),
        shape("cluster=2M", 64 * MIB, o -> o.withClusterSize(2 << 20)),
        shape("compat=0.10", 8 * MIB, o -> o.withCompat(Compat.V2)),
        shape("compat=0.10,cluster=4k", 8 * MIB, o -> o.withCompat(Compat.V2).withClusterSize(4096)),
        shape("refcount_bits=1,cluster=4k", 8 * MIB, o -> o.withRefcountBits(1).withClusterSize(4096)),
        shape("refcount_bits=2,cluster=512", 4 * MIB, o -> o.withRefcountBits(2).withClusterSize(512)),
        shape("refcount_bits=4", 8 * MIB, o -> o.withRefcountBits(4)),
        shape("refcount_bits=8,cluster=4k", 8 * MIB, o -> o.withRefcountBits(8).withClusterSize(4096)),
        shape("refcount_bits=32", 8 * MIB, o -> o.withRefcountBits(32)),
        shape("refcount_bits=64,cluster=512", 4 * MIB, o -> o.withRefcountBits(64).withClusterSize(512)),
        shape("lazy_refcounts", 8 * MIB, o -> o.withLazyRefcounts(true)),
        shape("lazy_refcounts,cluster=4k", 8 * MIB, o -> o.withLazyRefcounts(true).withClusterSize(4096)),
        shape("extended_l2,cluster=16k", 8 * MIB, o -> o.withExtendedL2(true).withClusterSize(16384)),
        shape("extended_l2,cluster=64k", 8 * MIB, o -> o.withExtendedL2(true)),
        shape("compression_type=zstd", 8 * MIB, o -> o.withCompressionType(CompressionType.ZSTD)),
        shape("preallocation=metadata", 8 * MIB, o -> o.withPreallocation(Preallocation.METADATA)),
        shape("preallocation=falloc,cluster=4k", 8 * MIB,
            o -> o.withPreallocation(Preallocation.FALLOC).withClusterSize(4096)),
        shape("preallocation=full", 8 * MIB, o -> o.withPreallocation(Preallocation.FULL)),
        shape("preallocation=metadata,extended_l2", 8 * MIB,
            o -> o.withPreallocation(Preallocation.METADATA).withExtendedL2(true)),
        shape("data_file", 8 * MIB, o -> o.withDataFile("image.data", false)),
        shape("data_file,data_file_raw", 8 * MIB, o -> o.withDataFile("image.data", true)),
        shape("data_file,extended_l2", 8 * MIB, o -> o.withDataFile("image.data", false).withExtendedL2(true)),
        shape("cluster=4k,small cache", 8 * MIB, o -> o.withClusterSize(4096)).withCache(4096),
        shape("cluster=512,small cache", 4 * MIB, o -> o.withClusterSize(512)).withCache(8192),
        chain("backing=raw", 8 * MIB, Base.RAW, o -> o),
        chain("backing=qcow2", 8 * MIB, Base.QCOW2, o -> o),
        chain("backing=qcow2,cluster=4k", 8 * MIB, Base.QCOW2, o -> o.withClusterSize(4096)),
        chain("backing=qcow2,compat=0.10", 8 * MIB, Base.QCOW2, o -> o.withCompat(Compat.V2)),
        chain("backing=raw,extended_l2", 8 * MIB, Base.RAW, o -> o.withExtendedL2(true).withClusterSize(32768)),
        chain("backing=qcow2,lazy_refcounts", 8 * MIB, Base.QCOW2, o -> o.withLazyRefcounts(true)),
        chain("backing=raw,data_file", 8 * MIB, Base.RAW, o -> o.withDataFile("image.data", false)),
        chain("backing=qcow2,small cache", 8 * MIB, Base.QCOW2, o -> o.withClusterSize(4096)).withCache(4096));
  }

  static Stream<Arguments> runs() {
    return shapes().stream().flatMap(shape -> WriteTesting.seeds(shape.name(), 1, 6).stream()
        .map(seed -> Arguments.of(shape, seed)));
  }

  @ParameterizedTest(name = "{0} seed={1}")
  @MethodSource("runs")
  void randomSequenceMatchesTheModel(Shape shape, long seed) throws Exception {
    int operations = WriteTesting.longRun() ? 400 : 70;
    new Sequence(shape, seed, dir).run(operations);
  }

  // ---------------------------------------------------------------- resize edge cases

  /** Growing again after a shrink to the middle of an allocated cluster must not bring back the old bytes. */
  @Test
  void growAfterUnalignedShrinkReadsZeros() throws IOException {
    Path image = dir.resolve("unaligned.qcow2");
    long size = 4 * MIB;
    try (QcowFile disk = QcowFile.create(image, CreateOptions.of(size))) {
      byte[] tail = new byte[64 * 1024];
      Arrays.fill(tail, (byte) 0x5a);
      disk.writeFully(ByteBuffer.wrap(tail), size - 2 * 65536);
      disk.discard(size - 65536, 65536);
      long newSize = size - 65536 - 4096;
      disk.resize(newSize);
      disk.resize(size);
      DiskModel model = new DiskModel(size);
      model.write(size - 2 * 65536, tail);
      model.zero(newSize, size - newSize);
      model.assertWholeDisk(disk, "shrink to " + newSize + " then grow to " + size);
    }
    WriteTesting.assertCheckClean(image, "unaligned shrink");
  }

  /** As qemu-img resize does: an image grown over a longer backing file reads zeros in the new part. */
  @Test
  void growOverLongerBackingFileReadsZeros() throws IOException {
    Path base = dir.resolve("long-base.raw");
    byte[] baseBytes = new byte[(int) (8 * MIB)];
    Arrays.fill(baseBytes, (byte) 0x77);
    Files.write(base, baseBytes);
    Path image = dir.resolve("short-overlay.qcow2");
    try (QcowFile disk = QcowFile.create(image, CreateOptions.of(4 * MIB).withBacking("long-base.raw", ImageFormat.RAW))) {
      disk.resize(6 * MIB);
      DiskModel model = new DiskModel(Arrays.copyOf(baseBytes, (int) (4 * MIB)));
      model.resize(6 * MIB);
      model.assertWholeDisk(disk, "overlay of 4 MiB over a base of 8 MiB, grown to 6 MiB");
      disk.resize(4 * MIB);
      disk.resize(8 * MIB);
      model.resize(8 * MIB);
      model.assertWholeDisk(disk, "then shrunk to 4 MiB and grown to 8 MiB");
    }
    WriteTesting.assertCheckClean(image, "grow over a longer backing file");
  }

  /** A resize of an image created at size 0 and writes into it; then check (the first L1 cluster must not leak). */
  @Test
  void growFromEmptyImage() throws IOException {
    for (int clusterSize : new int[] {512, 65536}) {
      Path image = dir.resolve("empty-" + clusterSize + ".qcow2");
      try (QcowFile disk = QcowFile.create(image, CreateOptions.of(0).withClusterSize(clusterSize))) {
        disk.resize(8 * MIB);
        disk.writeFully(ByteBuffer.wrap(new byte[] {1, 2, 3}), 5 * MIB);
      }
      WriteTesting.assertCheckClean(image, "size 0 grown to 8 MiB, cluster " + clusterSize);
    }
  }

  /**
   * An image created over a Storage with a backing file either refuses the backing file or reads
   * through it; it must not ignore it, or a partial write fills the rest of its cluster with zeros.
   */
  @Test
  void createOverStorageWithBackingReadsThroughIt() throws IOException {
    Path base = dir.resolve("storage-base.raw");
    byte[] baseBytes = new byte[(int) MIB];
    Arrays.fill(baseBytes, (byte) 0x33);
    Files.write(base, baseBytes);
    QcowFile disk;
    try {
      disk = QcowFile.create(new io.qcow4j.storage.MemoryStorage("overlay"),
          CreateOptions.of(MIB).withBacking(base.toString(), ImageFormat.RAW));
    } catch (IOException refused) {
      return;
    }
    try (disk) {
      disk.writeFully(ByteBuffer.wrap(new byte[] {1, 2, 3, 4}), 100);
      DiskModel model = new DiskModel(baseBytes);
      model.write(100, new byte[] {1, 2, 3, 4});
      model.assertReads(disk, 0, 65536, "the cluster around a write into an overlay created over a Storage");
    }
  }

  /** A write to the start of a fresh cluster at the end of the file, then a read of the rest of that cluster alone. */
  @Test
  void readOfTheUnwrittenTailOfAFreshCluster() throws IOException {
    Path image = dir.resolve("fresh-tail.qcow2");
    int clusterSize = 2 << 20;
    try (QcowFile disk = QcowFile.create(image, CreateOptions.of(16 * MIB).withClusterSize(clusterSize))) {
      disk.writeFully(ByteBuffer.wrap(new byte[] {9, 9, 9, 9}), 0);
      DiskModel model = new DiskModel(16 * MIB);
      model.write(0, new byte[] {9, 9, 9, 9});
      model.assertReads(disk, MIB, (int) MIB, "the second half of the cluster just written at its start");
    }
    WriteTesting.assertCheckClean(image, "fresh cluster written at its start");
  }

  /** data_file_raw: the data file alone is the disk, so zeroing must reach it (qemu-img writes zeros there). */
  @Test
  void rawDataFileReadsZerosAfterWriteZeroes() throws IOException {
    Path image = dir.resolve("raw-data.qcow2");
    byte[] ones = new byte[3 * 65536];
    Arrays.fill(ones, (byte) 0x11);
    try (QcowFile disk = QcowFile.create(image, CreateOptions.of(4 * MIB).withDataFile(dir.resolve("raw-data.bin").toString(), true))) {
      disk.writeFully(ByteBuffer.wrap(ones), 0);
      disk.writeZeroes(0, 65536);
      disk.writeZeroesUnmap(65536, 65536);
      disk.discard(2 * 65536, 65536);
    }
    byte[] data = Files.readAllBytes(dir.resolve("raw-data.bin"));
    DiskModel.assertSame(data, 0, new byte[3 * 65536], 0, 3 * 65536, 0,
        "data_file_raw after writeZeroes, writeZeroesUnmap and discard of written clusters");
  }

  /** data_file_raw: the data file is the disk as a raw image, so it grows with the disk (as qemu-img resize does). */
  @Test
  void rawDataFileGrowsWithTheDisk() throws IOException {
    Path image = dir.resolve("raw-grow.qcow2");
    try (QcowFile disk = QcowFile.create(image, CreateOptions.of(4 * MIB).withDataFile(dir.resolve("raw-grow.bin").toString(), true))) {
      disk.resize(6 * MIB);
    }
    assertEquals(6 * MIB, Files.size(dir.resolve("raw-grow.bin")), "size of the raw data file after growing the disk");
  }

  // ---------------------------------------------------------------- one sequence

  /** What the tracker knows of one cluster's allocation in this layer (for the shrink rule). */
  private static final byte UNALLOCATED = 0;
  private static final byte ALLOCATED = 1;
  private static final byte UNKNOWN = 2;

  private static final class Sequence {
    private final Shape shape;
    private final long seed;
    private final Path dir;
    private final Random random;
    private final Path image;
    private final Deque<String> log = new ArrayDeque<>();
    private final int clusterSize;
    private final long maxSize;
    private final CreateOptions options;
    private DiskModel model;
    private final ModelSnapshots snapshots;
    private byte[] allocation;
    private QcowFile disk;
    private int step;

    Sequence(Shape shape, long seed, Path dir) {
      this.shape = shape;
      this.seed = seed;
      this.dir = dir;
      this.random = new Random(seed);
      this.image = dir.resolve("image.qcow2");
      CreateOptions base = shape.options().apply(CreateOptions.of(shape.size()));
      if (base.dataFile() != null) {
        // named absolutely: a relative data file name is opened from the working directory (QEMU's way)
        base = base.withDataFile(dir.resolve(base.dataFile()).toString(), base.dataFileRaw());
      }
      this.options = switch (shape.base()) {
        case NONE -> base;
        case RAW -> base.withBacking("base.raw", ImageFormat.RAW);
        case QCOW2 -> base.withBacking("base.qcow2", ImageFormat.QCOW2);
      };
      this.clusterSize = options.clusterSize();
      this.maxSize = shape.size() * 3 / 2;
      this.snapshots = new ModelSnapshots(options.dataFile() != null, options.refcountBits());
    }

    private String context() {
      StringBuilder text = new StringBuilder(shape.name() + " seed=" + seed + " step=" + step
          + " (replay with -DQCOW4J_SEED=" + seed + " -Dtest=ModelBasedWriteTest)\nimage (kept when the test fails): "
          + image + "\nlast operations:");
      for (String entry : log) {
        text.append("\n  ").append(entry);
      }
      return text.toString();
    }

    private void note(String operation) {
      log.addLast(step + ": " + operation);
      if (log.size() > (System.getProperty("QCOW4J_FULL_LOG") != null ? 100_000 : 25)) {
        log.removeFirst();
      }
    }

    void run(int operations) throws Exception {
      try {
        setUp();
        boolean paranoid = System.getProperty("QCOW4J_PARANOID") != null;
        for (step = 0; step < operations; step++) {
          oneOperation();
          if (paranoid) {
            model.assertWholeDisk(disk, "paranoid read after the operation");
          }
        }
        note("close");
        disk.close();
        disk = null;
        verifyWithQemu();
      } catch (AssertionError | Exception e) {
        throw new AssertionError(context() + "\n" + e, e);
      } finally {
        if (disk != null) {
          try {
            disk.close();
          } catch (IOException | RuntimeException ignored) {
            // The failure above is the one to report.
          }
        }
      }
    }

    private void setUp() throws IOException {
      byte[] initial = new byte[(int) shape.size()];
      switch (shape.base()) {
        case NONE -> { }
        case RAW -> {
          byte[] baseBytes = baseContent();
          Files.write(dir.resolve("base.raw"), baseBytes);
          initial = baseBytes;
        }
        case QCOW2 -> {
          Path base = dir.resolve("base.qcow2");
          QemuTools tools = QemuTools.in(dir);
          tools.img("create", "-q", "-f", "qcow2", "-o", "cluster_size=" + (random.nextBoolean() ? 65536 : 4096),
              base, shape.size());
          List<Object> args = new ArrayList<>();
          for (int index = 0; index < 12; index++) {
            long offset = random.nextLong(shape.size() / 512) * 512;
            long length = Math.min(shape.size() - offset, 512L * (1 + random.nextInt(512)));
            args.add("-c");
            args.add(index % 5 == 4 ? "write -z " + offset + " " + length
                : "write -P " + (1 + random.nextInt(255)) + " " + offset + " " + length);
          }
          args.add(base);
          tools.io(args.toArray());
          tools.img("convert", "-f", "qcow2", "-O", "raw", base, dir.resolve("base.raw.expected"));
          initial = Files.readAllBytes(dir.resolve("base.raw.expected"));
        }
      }
      model = new DiskModel(Arrays.copyOf(initial, (int) shape.size()));
      allocation = new byte[clusterCount(shape.size())];
      Arrays.fill(allocation, options.preallocation() == Preallocation.OFF ? UNALLOCATED : ALLOCATED);
      note("create " + options);
      disk = QcowFile.create(image, options);
      if (shape.cacheBytes() != OpenOptions.DEFAULT_CACHE_BYTES) {
        reopen();
      }
    }

    private byte[] baseContent() {
      byte[] bytes = new byte[(int) shape.size()];
      for (int index = 0; index < 24; index++) {
        int offset = random.nextInt(bytes.length);
        byte[] data = WriteTesting.data(random, Math.min(bytes.length - offset, 1 + random.nextInt(256 * 1024)));
        System.arraycopy(data, 0, bytes, offset, data.length);
      }
      return bytes;
    }

    private int clusterCount(long size) {
      return (int) ((size + clusterSize - 1) / clusterSize);
    }

    private void oneOperation() throws IOException {
      int choice = random.nextInt(100);
      if (choice < 32) {
        write();
      } else if (choice < 46) {
        readAndCompare();
      } else if (choice < 54) {
        writeZeroes(false);
      } else if (choice < 59) {
        writeZeroes(true);
      } else if (choice < 68) {
        discard();
      } else if (choice < 72) {
        allocate();
      } else if (choice < 78) {
        note("flush");
        disk.flush();
      } else if (choice < 82) {
        boolean metadata = random.nextBoolean();
        note("force(" + metadata + ")");
        disk.force(metadata);
      } else if (choice < 87) {
        reopen();
        note("read whole disk");
        model.assertWholeDisk(disk, "after reopen");
      } else if (choice < 92) {
        resize();
      } else if (choice < 97) {
        snapshotStep();
      } else {
        readAndCompare();
      }
    }

    /** Creates, applies or deletes an internal snapshot; after an apply nothing is known of allocation. */
    private void snapshotStep() throws IOException {
      ModelSnapshots.Outcome outcome = snapshots.step(disk, model, random, this::note);
      model = outcome.model();
      if (outcome.applied()) {
        allocation = new byte[clusterCount(model.size())];
        Arrays.fill(allocation, UNKNOWN);
      }
    }

    /** A random range: offsets often cluster-aligned, lengths from one byte to a few hundred KiB. */
    private long[] range(int maxLength) {
      long size = model.size();
      long offset;
      switch (random.nextInt(4)) {
        case 0 -> offset = random.nextLong(size / clusterSize + 1) * clusterSize;
        case 1 -> offset = random.nextLong(size / 512) * 512;
        default -> offset = random.nextLong(size);
      }
      offset = Math.min(offset, size - 1);
      long length = switch (random.nextInt(4)) {
        case 0 -> 1 + random.nextInt(4096);
        case 1 -> clusterSize * (1L + random.nextInt(3));
        case 2 -> 1 + random.nextInt(64 * 1024);
        default -> 1 + random.nextInt(maxLength);
      };
      length = Math.min(length, size - offset);
      return new long[] {offset, length};
    }

    private void write() throws IOException {
      long[] range = range(300 * 1024);
      long offset = range[0];
      int length = (int) range[1];
      byte[] data = WriteTesting.data(random, length);
      int how = random.nextInt(6);
      note("write " + offset + " +" + length + " via " + switch (how) {
        case 0 -> "direct buffer";
        case 1 -> "sliced heap buffer";
        case 2 -> "vectored buffers";
        case 3 -> "channel";
        default -> "heap buffer";
      });
      switch (how) {
        case 0 -> {
          ByteBuffer direct = ByteBuffer.allocateDirect(length);
          direct.put(data).flip();
          disk.writeFully(direct, offset);
        }
        case 1 -> {
          byte[] padded = new byte[length + 37];
          System.arraycopy(data, 0, padded, 11, length);
          disk.writeFully(ByteBuffer.wrap(padded).position(11).limit(11 + length).slice(), offset);
        }
        case 2 -> {
          int pieces = 1 + random.nextInt(4);
          List<ByteBuffer> buffers = new ArrayList<>();
          int from = 0;
          for (int piece = 0; piece < pieces; piece++) {
            int to = piece == pieces - 1 ? length : from + random.nextInt(length - from + 1);
            buffers.add(ByteBuffer.wrap(data, from, to - from));
            from = to;
          }
          long written = disk.write(buffers.toArray(ByteBuffer[]::new), offset);
          assertEquals(length, written, "vectored write count");
        }
        case 3 -> {
          DiskChannel channel = disk.channel();
          channel.position(offset);
          ByteBuffer source = ByteBuffer.wrap(data);
          while (source.hasRemaining()) {
            channel.write(source);
          }
          assertEquals(offset + length, channel.position(), "channel position after the write");
        }
        default -> disk.writeFully(ByteBuffer.wrap(data), offset);
      }
      model.write(offset, data);
      mark(offset, length, ALLOCATED, false);
      if (random.nextInt(3) == 0) {
        note("read " + offset + " +" + length + " (read back)");
        model.assertReads(disk, offset, length, "read back of the write just made");
      }
    }

    private void readAndCompare() throws IOException {
      long[] range = range(512 * 1024);
      note("read " + range[0] + " +" + range[1]);
      model.assertReads(disk, range[0], (int) range[1], "read");
    }

    private void writeZeroes(boolean unmap) throws IOException {
      long[] range = range(1024 * 1024);
      note((unmap ? "writeZeroesUnmap " : "writeZeroes ") + range[0] + " +" + range[1]);
      if (unmap) {
        disk.writeZeroesUnmap(range[0], range[1]);
      } else {
        disk.writeZeroes(range[0], range[1]);
      }
      model.zero(range[0], range[1]);
      mark(range[0], range[1], UNKNOWN, false);
    }

    private void discard() throws IOException {
      long[] range = range(1024 * 1024);
      note("discard " + range[0] + " +" + range[1]);
      long[] zeroed = Discards.zeroedRange(disk, range[0], range[1]);
      disk.discard(range[0], range[1]);
      model.zero(zeroed[0], zeroed[1] - zeroed[0]);
      mark(zeroed[0], zeroed[1] - zeroed[0], UNKNOWN, shape.base() == Base.NONE);
    }

    private void allocate() throws IOException {
      long[] range = range(512 * 1024);
      note("allocate " + range[0] + " +" + range[1]);
      disk.allocate(range[0], range[1]);
      mark(range[0], range[1], ALLOCATED, false);
    }

    /**
     * Records what an operation did to the allocation of the clusters it touched; with
     * {@code wholeBecomeUnallocated}, clusters it covered whole become unallocated (discard
     * without a backing file).
     */
    private void mark(long offset, long length, byte state, boolean wholeBecomeUnallocated) {
      long size = model.size();
      long end = offset + length;
      for (long cluster = offset / clusterSize; cluster * clusterSize < end; cluster++) {
        long clusterStart = cluster * clusterSize;
        long clusterEnd = Math.min(size, clusterStart + clusterSize);
        boolean whole = offset <= clusterStart && end >= clusterEnd;
        byte current = allocation[(int) cluster];
        if (wholeBecomeUnallocated && whole) {
          allocation[(int) cluster] = UNALLOCATED;
        } else if (state == ALLOCATED) {
          allocation[(int) cluster] = ALLOCATED;
        } else if (current == UNALLOCATED) {
          allocation[(int) cluster] = UNKNOWN;
        } else if (state == UNKNOWN) {
          allocation[(int) cluster] = UNKNOWN;
        }
      }
    }

    private void reopen() throws IOException {
      note("close and reopen");
      disk.close();
      disk = null;
      disk = QcowFile.open(image, OpenOptions.readWriteDefaults().withCacheBytes(shape.cacheBytes()));
      if (disk.info().qcow2().dirty()) {
        fail("the image is still marked dirty after a clean close");
      }
    }

    private void resize() throws IOException {
      long size = model.size();
      boolean grow = random.nextInt(5) < 3 || shape.base() != Base.NONE;
      if (!snapshots.isEmpty() && disk.info().qcow2().version() < 3) {
        // As QEMU's qcow2_co_truncate: a version 2 image need not record its snapshots' sizes
        long newSize = grow ? Math.min(maxSize, size + clusterSize) : Math.max(512, size / 2 / 512 * 512);
        note("resize to " + newSize + " of a v2 image with snapshots, refusal expected");
        IOException refusal = assertThrows(IOException.class, () -> disk.resize(newSize));
        assertEquals(image + ": Can't resize a v2 image which has snapshots", refusal.getMessage());
        assertEquals(size, disk.size(), "size after a refused resize");
        return;
      }
      if (grow) {
        long room = maxSize - size;
        if (room < 512) {
          return;
        }
        long newSize = size + 512 * (1 + random.nextLong(room / 512));
        if (random.nextBoolean()) {
          newSize = Math.min(maxSize, (newSize + clusterSize - 1) / clusterSize * clusterSize);
        }
        note("resize (grow) to " + newSize);
        disk.resize(newSize);
        model.resize(newSize);
        int oldClusters = allocation.length;
        allocation = Arrays.copyOf(allocation, clusterCount(newSize));
        Arrays.fill(allocation, oldClusters, allocation.length, UNALLOCATED);
        if (size % clusterSize != 0 && allocation[oldClusters - 1] == UNALLOCATED) {
          // A grow may zero-fill the rest of the old last cluster, allocating it.
          allocation[oldClusters - 1] = UNKNOWN;
        }
        assertEquals(newSize, disk.size(), "size after growing");
        return;
      }
      // Shrinks stay cluster-aligned here; the unaligned case has its own test.
      long minimum = Math.max(clusterSize, shape.size() / 2);
      if (size <= minimum) {
        return;
      }
      long newSize = (minimum + random.nextLong(size - minimum)) / clusterSize * clusterSize;
      if (newSize >= size || newSize == 0) {
        return;
      }
      if (random.nextBoolean()) {
        note("discard tail " + newSize + " +" + (size - newSize));
        disk.discard(newSize, size - newSize);
        model.zero(newSize, size - newSize);
        mark(newSize, size - newSize, UNKNOWN, true);
      }
      // As QEMU: a shrink deletes what lies past the new end; the snapshots keep theirs
      boolean refusalExpected = false;
      note("resize (shrink) to " + newSize + (refusalExpected ? ", refusal expected" : ", success expected"));
      boolean refused;
      try {
        disk.resize(newSize);
        refused = false;
      } catch (IOException e) {
        refused = true;
        if (!refusalExpected) {
          throw new AssertionError("shrink to " + newSize + " without snapshots was refused", e);
        }
      }
      if (!refused && refusalExpected) {
        fail("shrink to " + newSize + " succeeded although the image has snapshots");
      }
      if (refused) {
        assertEquals(size, disk.size(), "size after a refused shrink");
        model.assertReads(disk, newSize, (int) (size - newSize), "tail after a refused shrink");
      } else {
        assertEquals(newSize, disk.size(), "size after shrinking");
        model.resize(newSize);
        allocation = Arrays.copyOf(allocation, clusterCount(newSize));
      }
    }

    private void verifyWithQemu() throws IOException {
      assertOurCheckClean("after the sequence");
      WriteTesting.assertCheckClean(image, "after the sequence");
      WriteTesting.assertSameAsModel(image, model, "after the sequence");
      if (options.dataFileRaw()) {
        // data_file_raw promises that the data file alone is the disk, as a raw image.
        Path data = dir.resolve(options.dataFile());
        byte[] raw = Files.readAllBytes(data);
        byte[] expected = model.snapshot();
        if (raw.length < expected.length) {
          fail("the raw data file has " + raw.length + " bytes, fewer than the disk's " + expected.length);
        }
        DiskModel.assertSame(raw, 0, expected, 0, expected.length, 0, "data_file_raw: the data file read as raw");
      }
      try (QcowFile reopened = QcowFile.open(image, OpenOptions.readOnlyDefaults())) {
        model.assertWholeDisk(reopened, "read-only reopen at the end");
      }
      if (!snapshots.isEmpty()) {
        note("apply each remaining snapshot, then check again");
        snapshots.assertEachRestores(image, OpenOptions.readWriteDefaults().withCacheBytes(shape.cacheBytes()),
            "after the sequence");
        assertOurCheckClean("after applying each snapshot at the end");
        WriteTesting.assertCheckClean(image, "after applying each snapshot at the end");
      }
    }

    /** Our own check of the closed image must find neither corruption nor leaks, as qemu-img check must. */
    private void assertOurCheckClean(String when) throws IOException {
      CheckResult result = QcowFile.check(image, CheckResult.Repair.NONE);
      if (result.corruptions() != 0 || result.leaks() != 0 || result.checkErrors() != 0) {
        fail(when + ": our check is not clean: corruptions " + result.corruptions() + ", leaks " + result.leaks()
            + ", check errors " + result.checkErrors() + "\n  " + String.join("\n  ", result.messages()));
      }
    }
  }
}
