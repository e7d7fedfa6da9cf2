package io.qcow4j.qcow2.format;

import static org.assertj.core.api.Assertions.assertThat;

import com.github.luben.zstd.Zstd;
import io.qcow4j.qcow2.format.L2Entry.Kind;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Compressed cluster descriptors, {@code x = 62 - (cluster_bits - 8)}: bits 0..x-1 the host byte
 * offset, bits x..61 the additional 512-byte sectors; checked for every cluster size and against the
 * descriptors {@code qemu-img convert -c} writes.
 */
class CompressedDescriptorTest {
  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(ints = {9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21})
  void fieldWidthsFollowClusterBits(int clusterBits) {
    int offsetBits = 62 - (clusterBits - 8);
    assertThat(CompressedDescriptor.offsetBits(clusterBits)).isEqualTo(offsetBits);
    // 512 B clusters: 61 offset bits and 1 sector bit; 2 MiB: 49 offset bits (512 TB) and 13 sector bits.
    int sectorBits = 62 - offsetBits;
    assertThat(sectorBits).isEqualTo(clusterBits - 8);
    long maxOffset = (1L << offsetBits) - 1;
    int maxSectors = (1 << sectorBits) - 1;

    CompressedDescriptor offsetOnly = CompressedDescriptor.decode(L2Entry.COMPRESSED | maxOffset, clusterBits);
    assertThat(offsetOnly).isEqualTo(new CompressedDescriptor(maxOffset, 0));
    CompressedDescriptor sectorsOnly =
        CompressedDescriptor.decode(L2Entry.COMPRESSED | ((long) maxSectors << offsetBits), clusterBits);
    assertThat(sectorsOnly).isEqualTo(new CompressedDescriptor(0, maxSectors));
    // Bit 63 (COPIED, always 0 for compressed clusters) is not part of either field.
    CompressedDescriptor full = CompressedDescriptor.decode(-1L, clusterBits);
    assertThat(full).isEqualTo(new CompressedDescriptor(maxOffset, maxSectors));
    assertThat(full.encode(clusterBits)).isEqualTo(-1L >>> 1);
  }

  @ParameterizedTest
  @ValueSource(ints = {9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21})
  void roundTripsAndCountsSectors(int clusterBits) {
    int clusterSize = 1 << clusterBits;
    long seed = 0x5eedL * clusterBits;
    Random random = new Random(seed);
    long offsetLimit = Math.min(1L << CompressedDescriptor.offsetBits(clusterBits), 1L << 56);
    for (int round = 0; round < 500; round++) {
      long hostOffset = random.nextLong(offsetLimit - 2L * clusterSize);
      // QEMU compresses into at most cluster_size - 1 bytes.
      long length = 1 + random.nextInt(clusterSize - 1);
      CompressedDescriptor descriptor = CompressedDescriptor.of(hostOffset, length);
      String context = "seed " + seed + " offset " + hostOffset + " length " + length;

      assertThat(descriptor.hostOffset()).as(context).isEqualTo(hostOffset);
      long firstSector = hostOffset / 512;
      long lastSector = (hostOffset + length - 1) / 512;
      assertThat(descriptor.additionalSectors()).as(context).isEqualTo((int) (lastSector - firstSector));
      // Under a cluster of data always fits the sector count field.
      assertThat(descriptor.additionalSectors()).as(context).isLessThan(1 << (clusterBits - 8));
      // maxLength reaches from the offset to the end of the last sector: covers the data, wastes under a sector.
      assertThat(descriptor.maxLength()).as(context).isGreaterThanOrEqualTo(length);
      assertThat(descriptor.maxLength() - length).as(context).isLessThan(512);
      assertThat((hostOffset + descriptor.maxLength()) % 512).as(context).isZero();

      long entry = descriptor.encode(clusterBits);
      assertThat(L2Entry.compressed(entry)).as(context).isTrue();
      assertThat(L2Entry.copied(entry)).as(context).isFalse();
      assertThat(L2Entry.kind(entry, false)).as(context).isEqualTo(Kind.COMPRESSED);
      assertThat(CompressedDescriptor.decode(entry, clusterBits)).as(context).isEqualTo(descriptor);
    }
  }

  @ParameterizedTest
  @CsvSource({"0, 0, 512", "511, 0, 1", "100, 1, 924", "512, 3, 2048", "1000, 2, 1048"})
  void maxLengthEndsAtTheLastSector(long hostOffset, int additionalSectors, long maxLength) {
    assertThat(new CompressedDescriptor(hostOffset, additionalSectors).maxLength()).isEqualTo(maxLength);
  }

  @ParameterizedTest
  @CsvSource({
      "512, zlib", "1024, zlib", "2048, zlib", "4096, zlib", "8192, zlib", "16384, zlib", "32768, zlib",
      "65536, zlib", "131072, zlib", "262144, zlib", "524288, zlib", "1048576, zlib", "2097152, zlib",
      "512, zstd", "65536, zstd", "2097152, zstd"})
  void decodesDescriptorsQemuWrote(int clusterSize, String compression) throws IOException, DataFormatException {
    int clusterBits = Integer.numberOfTrailingZeros(clusterSize);
    byte[][] clusters = guestClusters(clusterSize);
    byte[] source = new byte[clusterSize * 5 + clusterSize / 2];
    for (int index = 0; index < clusters.length; index++) {
      System.arraycopy(clusters[index], 0, source, index * clusterSize, Math.min(clusterSize, source.length - index * clusterSize));
    }
    Files.write(dir.resolve("source.raw"), source);
    QemuFixtures.run(dir, "qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2",
        "-o", "cluster_size=" + clusterSize + ",compression_type=" + compression, "source.raw", "packed.qcow2");
    Path image = dir.resolve("packed.qcow2");
    Header header = QemuFixtures.header(image);
    long fileSize = QemuFixtures.size(image);
    long l2Offset = L1Entry.l2Offset(QemuFixtures.be64(image, header.l1TableOffset()));

    long previousEnd = 0;
    for (int index = 0; index < clusters.length; index++) {
      long entry = QemuFixtures.be64(image, l2Offset + 8L * index);
      String context = "cluster " + index + " entry 0x" + Long.toHexString(entry);
      if (index == 3) {
        assertThat(L2Entry.kind(entry, false)).as(context).isIn(Kind.UNALLOCATED, Kind.ZERO);
        continue;
      }
      if (index == 2) {
        // Random data does not compress below a cluster: QEMU stores it as a standard cluster.
        assertThat(L2Entry.kind(entry, false)).as(context).isEqualTo(Kind.DATA);
        continue;
      }
      assertThat(L2Entry.kind(entry, false)).as(context).isEqualTo(Kind.COMPRESSED);
      assertThat(L2Entry.copied(entry)).as(context).isFalse();
      CompressedDescriptor descriptor = CompressedDescriptor.decode(entry, clusterBits);
      assertThat(descriptor.encode(clusterBits)).as(context).isEqualTo(entry);
      assertThat(descriptor.hostOffset()).as(context).isGreaterThanOrEqualTo(previousEnd);
      assertThat(descriptor.hostOffset() + descriptor.maxLength()).as(context).isLessThanOrEqualTo(fileSize);

      byte[] stored = QemuFixtures.read(image, descriptor.hostOffset(), (int) descriptor.maxLength());
      byte[] expected = Arrays.copyOf(clusters[index], clusterSize);
      if (index == 5) {
        Arrays.fill(expected, clusterSize / 2, clusterSize, (byte) 0);
      }
      int compressedLength = compression.equals("zlib")
          ? inflate(stored, expected, context)
          : unzstd(stored, expected, context);
      // QEMU counts the sectors from the exact compressed length, as of() does.
      assertThat(CompressedDescriptor.of(descriptor.hostOffset(), compressedLength)).as(context).isEqualTo(descriptor);
      previousEnd = descriptor.hostOffset() + compressedLength;
    }
  }

  /** Inflates raw deflate (no zlib header) and returns the compressed length it consumed. */
  private static int inflate(byte[] stored, byte[] expected, String context) throws DataFormatException {
    Inflater inflater = new Inflater(true);
    try {
      inflater.setInput(stored);
      byte[] out = new byte[expected.length + 1];
      int produced = 0;
      while (!inflater.finished() && produced < out.length) {
        int count = inflater.inflate(out, produced, out.length - produced);
        if (count == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
          break;
        }
        produced += count;
      }
      assertThat(produced).as(context).isEqualTo(expected.length);
      assertThat(Arrays.copyOf(out, produced)).as(context).isEqualTo(expected);
      return stored.length - inflater.getRemaining();
    } finally {
      inflater.end();
    }
  }

  private static int unzstd(byte[] stored, byte[] expected, String context) {
    long frameLength = Zstd.findFrameCompressedSize(stored);
    assertThat(frameLength).as(context).isPositive().isLessThanOrEqualTo(stored.length);
    byte[] out = new byte[expected.length];
    long produced = Zstd.decompressByteArray(out, 0, out.length, stored, 0, (int) frameLength);
    assertThat(produced).as(context).isEqualTo(expected.length);
    assertThat(out).as(context).isEqualTo(expected);
    return (int) frameLength;
  }

  /** Guest clusters 0..5: text, text, random, zeros, text, text (the last only half inside the disk). */
  private static byte[][] guestClusters(int clusterSize) {
    Random random = new Random(clusterSize);
    byte[][] clusters = new byte[6][];
    for (int index = 0; index < clusters.length; index++) {
      byte[] cluster = new byte[clusterSize];
      if (index == 2) {
        random.nextBytes(cluster);
      } else if (index != 3) {
        byte[] line = ("guest cluster " + index + " of " + clusterSize + " bytes; ").getBytes(StandardCharsets.US_ASCII);
        for (int at = 0; at < clusterSize; at++) {
          cluster[at] = line[at % line.length];
        }
      }
      clusters[index] = cluster;
    }
    return clusters;
  }
}
