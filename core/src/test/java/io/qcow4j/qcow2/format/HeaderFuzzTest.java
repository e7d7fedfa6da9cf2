package io.qcow4j.qcow2.format;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.ImageLimitException;
import io.qcow4j.disk.UnsupportedFeatureException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzz-style tests without Jazzer: seeded random mutations of metadata that qemu-img wrote, fed to
 * the decoders, which may succeed or throw one of our three exceptions, never anything else, and
 * always return quickly; a header that decodes also encodes back to itself. A failure prints the seed; {@code -Dqcow4j.fuzz.seed=N} replays it and
 * {@code -Dqcow4j.fuzz.iterations=N} runs longer.
 */
class HeaderFuzzTest {
  private static final long SEED = Long.getLong("qcow4j.fuzz.seed", System.nanoTime());
  private static final int ITERATIONS = Integer.getInteger("qcow4j.fuzz.iterations", 4000);
  /** The fields of the fixed header by offset and width, where field-aware mutations aim. */
  private static final int[][] FIELDS = {
      {0, 4}, {4, 4}, {8, 8}, {16, 4}, {20, 4}, {24, 8}, {32, 4}, {36, 4}, {40, 8}, {48, 8}, {56, 4}, {60, 4},
      {64, 8}, {72, 8}, {80, 8}, {88, 8}, {96, 4}, {100, 4}, {104, 1}};
  private static final long[] INTERESTING = {
      0, 1, -1, 7, 8, 9, 21, 22, 104, 112, 0x7f, 0x80, 0xff, 0x100, 0x1ff, 0x200, 0x3ff, 0x400, 0xffff, 0x10000,
      Integer.MAX_VALUE, Integer.MIN_VALUE, 0xffff_ffffL, 1L << 32, 1L << 61, (1L << 61) + 1, Long.MAX_VALUE,
      Long.MIN_VALUE, Long.MAX_VALUE - 7, Long.MAX_VALUE & ~0xffffL, 1L << 56, 1L << 62};

  @TempDir Path dir;

  /** One valid header cluster made by qemu-img, with its file's size. */
  private record Sample(String name, byte[] cluster, long fileSize) {}

  @Test
  void mutatedQemuHeadersThrowOnlyOurExceptions() {
    List<Sample> samples = headerSamples();
    Random random = new Random(SEED);
    long[] outcomes = new long[4];
    assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
      for (int iteration = 0; iteration < ITERATIONS; iteration++) {
        Sample sample = samples.get(random.nextInt(samples.size()));
        byte[] cluster = sample.cluster().clone();
        List<String> mutations = new ArrayList<>();
        int count = 1 + random.nextInt(6);
        for (int m = 0; m < count; m++) {
          mutations.add(mutate(random, cluster));
        }
        int length = random.nextInt(8) == 0 ? random.nextInt(cluster.length + 1) : cluster.length;
        if (length < cluster.length) {
          mutations.add("truncate to " + length);
        }
        long fileSize = sample.fileSize();
        if (random.nextInt(8) == 0) {
          fileSize = random.nextBoolean() ? random.nextLong(Math.max(1, fileSize)) : INTERESTING[random.nextInt(INTERESTING.length)];
          mutations.add("file size " + fileSize);
        }
        String context = "seed " + SEED + " (rerun with -Dqcow4j.fuzz.seed=" + SEED + "), iteration " + iteration
            + ", sample " + sample.name() + ", mutations " + mutations;
        long size = fileSize;
        Header[] decoded = new Header[1];
        outcomes[decodeOnlyFailingOurWay(context, cluster,
            () -> decoded[0] = HeaderCodec.decode("fuzz.qcow2", ByteBuffer.wrap(cluster, 0, length), size))]++;
        if (decoded[0] != null) {
          assertRewritable(context, decoded[0], size);
        }
        decodeOnlyFailingOurWay(context, cluster, () -> HeaderCodec.clusterSizeOf("fuzz.qcow2",
            ByteBuffer.wrap(cluster, 0, Math.min(length, HeaderCodec.FIXED_PART_BYTES))));
      }
    }, () -> "header fuzzing took too long; seed " + SEED);
    // The mutations must leave some headers valid and break others, or the test explores nothing.
    assertThat(outcomes[0]).as("decoded, seed %d", SEED).isPositive();
    assertThat(outcomes[1] + outcomes[2] + outcomes[3]).as("refused, seed %d", SEED).isPositive();
  }

  @Test
  void mutatedQemuSnapshotTablesThrowOnlyOurExceptions() {
    QemuFixtures.create(dir, "snap.qcow2", "cluster_size=4096", "4M");
    QemuFixtures.run(dir, "qemu-io", "-c", "write -P 1 0 8k", "snap.qcow2");
    QemuFixtures.run(dir, "qemu-img", "snapshot", "-c", "one", "snap.qcow2");
    QemuFixtures.run(dir, "qemu-img", "snapshot", "-c", "a longer second name", "snap.qcow2");
    Path image = dir.resolve("snap.qcow2");
    Header header = headerOf(image);
    long fileSize = QemuFixtures.size(image);
    byte[] table = QemuFixtures.read(image, header.snapshotsOffset(), 4096);
    Random random = new Random(SEED);
    assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
      for (int iteration = 0; iteration < ITERATIONS; iteration++) {
        byte[] mutated = table.clone();
        List<String> mutations = new ArrayList<>();
        for (int m = 1 + random.nextInt(4); m > 0; m--) {
          mutations.add(mutateAnywhere(random, mutated));
        }
        int length = random.nextInt(4) == 0 ? random.nextInt(mutated.length + 1) : mutated.length;
        int count = random.nextInt(8) == 0 ? random.nextInt(5) : 2;
        String context = "seed " + SEED + ", iteration " + iteration + ", length " + length + ", count " + count
            + ", mutations " + mutations;
        decodeOnlyFailingOurWay(context, mutated, () -> SnapshotTableCodec.decode("fuzz.qcow2",
            ByteBuffer.wrap(mutated, 0, length), header.snapshotsOffset(), count));
        SnapshotTableCodec.entryLength(ByteBuffer.wrap(mutated, 0, length));
      }
    }, () -> "snapshot table fuzzing took too long; seed " + SEED);
  }

  @Test
  void mutatedQemuBitmapDirectoriesThrowOnlyOurExceptions() {
    QemuFixtures.create(dir, "bitmaps.qcow2", "cluster_size=4096", "4M");
    QemuFixtures.run(dir, "qemu-img", "bitmap", "--add", "bitmaps.qcow2", "first");
    QemuFixtures.run(dir, "qemu-img", "bitmap", "--add", "--disable", "bitmaps.qcow2", "the second bitmap");
    Path image = dir.resolve("bitmaps.qcow2");
    byte[] extension = headerOf(image).extension(HeaderExtension.BITMAPS).orElseThrow().data();
    long directoryOffset = ByteBuffer.wrap(extension).getLong(16);
    byte[] directory = QemuFixtures.read(image, directoryOffset, (int) ByteBuffer.wrap(extension).getLong(8));
    Random random = new Random(SEED);
    assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
      for (int iteration = 0; iteration < ITERATIONS; iteration++) {
        byte[] mutated = directory.clone();
        List<String> mutations = new ArrayList<>();
        for (int m = 1 + random.nextInt(3); m > 0; m--) {
          mutations.add(mutateAnywhere(random, mutated));
        }
        int length = random.nextInt(4) == 0 ? random.nextInt(mutated.length + 1) : mutated.length;
        int count = random.nextInt(8) == 0 ? random.nextInt(5) : 2;
        String context = "seed " + SEED + ", iteration " + iteration + ", length " + length + ", count " + count
            + ", mutations " + mutations;
        decodeOnlyFailingOurWay(context, mutated, () -> BitmapDirectoryCodec.decode("fuzz.qcow2",
            ByteBuffer.wrap(mutated, 0, length), directoryOffset, count));
        byte[] extensionData = Arrays.copyOf(extension, random.nextInt(32));
        decodeOnlyFailingOurWay(context, extensionData,
            () -> BitmapDirectoryCodec.Extension.decode("fuzz.qcow2", extensionData));
      }
    }, () -> "bitmap directory fuzzing took too long; seed " + SEED);
  }

  private interface Decoding {
    Object run() throws Exception;
  }

  /** 0 when decoding succeeds, 1-3 for our exceptions; anything else fails the test with the context. */
  private static int decodeOnlyFailingOurWay(String context, byte[] input, Decoding decoding) {
    long start = System.nanoTime();
    int outcome;
    try {
      decoding.run();
      outcome = 0;
    } catch (CorruptImageException e) {
      outcome = 1;
    } catch (UnsupportedFeatureException e) {
      outcome = 2;
    } catch (ImageLimitException e) {
      outcome = 3;
    } catch (Throwable e) {
      throw new AssertionError(context + ": threw " + e + "\ninput starts "
          + HexFormat.of().formatHex(input, 0, Math.min(input.length, 256)), e);
    }
    long millis = (System.nanoTime() - start) / 1_000_000;
    if (millis > 2000) {
      throw new AssertionError(context + ": one decode took " + millis + " ms");
    }
    return outcome;
  }

  /**
   * A header we accept can be written back: encode() fits it in its cluster and decoding that gives
   * the same header, but for where the backing file name sits (and its size when there is none).
   */
  private static void assertRewritable(String context, Header header, long fileSize) {
    Header again;
    try {
      byte[] cluster = Arrays.copyOf(HeaderCodec.encode(header), header.clusterSize());
      again = HeaderCodec.decode("fuzz.qcow2", ByteBuffer.wrap(cluster), fileSize);
    } catch (Throwable e) {
      throw new AssertionError(context + ": cannot write back " + header + ": " + e, e);
    }
    Header expected = new Header(header.version(), again.backingFileOffset(),
        header.backingFile() == null ? again.backingFileSize() : header.backingFileSize(), header.clusterBits(),
        header.size(), header.cryptMethod(), header.l1Size(), header.l1TableOffset(), header.refcountTableOffset(),
        header.refcountTableClusters(), header.snapshotCount(), header.snapshotsOffset(), header.incompatibleFeatures(),
        header.compatibleFeatures(), header.autoclearFeatures(), header.refcountOrder(), header.headerLength(),
        header.compressionType(), header.extensions(), header.backingFile());
    if (!again.equals(expected)) {
      throw new AssertionError(context + ": written back as\n" + again + "\ninstead of\n" + header);
    }
  }

  /** One mutation of a header cluster, described for the failure message. */
  private static String mutate(Random random, byte[] cluster) {
    int headerArea = Math.min(cluster.length, 1024);
    switch (random.nextInt(6)) {
      case 0 -> {
        int[] field = FIELDS[random.nextInt(FIELDS.length)];
        long value = INTERESTING[random.nextInt(INTERESTING.length)];
        put(cluster, field[0], field[1], value);
        return "field@" + field[0] + "=" + value;
      }
      case 1 -> {
        int[] field = FIELDS[random.nextInt(FIELDS.length)];
        long delta = random.nextInt(33) - 16;
        long value = get(cluster, field[0], field[1]) + delta;
        put(cluster, field[0], field[1], value);
        return "field@" + field[0] + "+=" + delta;
      }
      case 2 -> {
        int bit = random.nextInt(headerArea * 8);
        cluster[bit / 8] ^= (byte) (1 << (bit % 8));
        return "flip bit " + bit;
      }
      case 3 -> {
        int at = random.nextInt(headerArea);
        cluster[at] = (byte) random.nextInt(256);
        return "byte@" + at + "=" + (cluster[at] & 0xff);
      }
      case 4 -> {
        // Aim at the extension area: a type or length word at an 8-aligned offset after the fixed header.
        int at = 72 + 4 * random.nextInt(Math.max(1, (headerArea - 76) / 4));
        long value = INTERESTING[random.nextInt(INTERESTING.length)];
        put(cluster, at, 4, value);
        return "word@" + at + "=" + value;
      }
      default -> {
        return mutateAnywhere(random, cluster);
      }
    }
  }

  private static String mutateAnywhere(Random random, byte[] bytes) {
    if (bytes.length == 0) {
      return "none";
    }
    int at = random.nextInt(bytes.length);
    switch (random.nextInt(3)) {
      case 0 -> {
        bytes[at] ^= (byte) (1 << random.nextInt(8));
        return "flip@" + at;
      }
      case 1 -> {
        bytes[at] = (byte) random.nextInt(256);
        return "byte@" + at + "=" + (bytes[at] & 0xff);
      }
      default -> {
        int width = new int[] {1, 2, 4, 8}[random.nextInt(4)];
        at = Math.min(at, bytes.length - width);
        if (at < 0) {
          return "none";
        }
        long value = INTERESTING[random.nextInt(INTERESTING.length)];
        put(bytes, at, width, value);
        return "be" + width * 8 + "@" + at + "=" + value;
      }
    }
  }

  private static void put(byte[] bytes, int at, int width, long value) {
    for (int i = width - 1; i >= 0; i--) {
      bytes[at + i] = (byte) value;
      value >>>= 8;
    }
  }

  private static long get(byte[] bytes, int at, int width) {
    return QemuFixtures.be(bytes, at, width);
  }

  private static Header headerOf(Path image) {
    try {
      return QemuFixtures.header(image);
    } catch (java.io.IOException e) {
      throw new AssertionError(e);
    }
  }

  /** Headers of many shapes: v2 and v3, backing files, every incompatible feature QEMU makes, bitmaps. */
  private List<Sample> headerSamples() {
    QemuFixtures.create(dir, "base.qcow2", "cluster_size=4096", "8M");
    QemuFixtures.run(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
        "-o", "cluster_size=4096", "backed.qcow2");
    QemuFixtures.run(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
        "-o", "compat=0.10,cluster_size=512", "v2-backed.qcow2");
    QemuFixtures.create(dir, "features.qcow2", "cluster_size=16384,compression_type=zstd,extended_l2=on,lazy_refcounts=on",
        "8M");
    QemuFixtures.create(dir, "data-file.qcow2", "cluster_size=4096,data_file=data.raw,data_file_raw=on", "1M");
    QemuFixtures.create(dir, "bitmaps.qcow2", "cluster_size=4096", "8M");
    QemuFixtures.run(dir, "qemu-img", "bitmap", "--add", "bitmaps.qcow2", "b0");
    QemuFixtures.create(dir, "snapshots.qcow2", "cluster_size=4096,refcount_bits=64", "8M");
    QemuFixtures.run(dir, "qemu-img", "snapshot", "-c", "s", "snapshots.qcow2");
    List<Sample> samples = new ArrayList<>();
    for (String name : List.of("backed.qcow2", "v2-backed.qcow2", "features.qcow2", "data-file.qcow2", "bitmaps.qcow2",
        "snapshots.qcow2")) {
      Path image = dir.resolve(name);
      samples.add(new Sample(name, QemuFixtures.firstCluster(image), QemuFixtures.size(image)));
      headerOf(image);
    }
    return samples;
  }
}
