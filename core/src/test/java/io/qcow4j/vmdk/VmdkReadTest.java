package io.qcow4j.vmdk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.Extent;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageInfo;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.ReadOnlyImageException;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * VMDKs of every subformat qemu-img 7.2 creates, written by qemu-io with patterns, zeros and holes,
 * read by us byte for byte as qemu-img convert reads them.
 */
class VmdkReadTest {
  /** Not a whole number of 64 KiB grains, so the last grain is partial. */
  private static final long SIZE = 4200 * 1024;

  @TempDir Path dir;

  /** Patterns over grain boundaries, zeros over data and over holes, and holes left alone. */
  private static List<Object> workload(String format) {
    List<Object> args = new ArrayList<>(List.of("-f", format));
    for (String command : List.of("write -P 0xa1 0 100k", "write -P 0xb2 300k 64k", "write -z 128k 128k",
        "write -P 0xc3 1M 513k", "write -P 0x44 2M 128k", "write -z 2M 64k", "write -P 0x5e 4160k 40k")) {
      args.add("-c");
      args.add(command);
    }
    return args;
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"subformat=monolithicSparse", "subformat=monolithicSparse,zeroed_grain=on",
      "subformat=monolithicSparse,compat6=on", "subformat=monolithicFlat", "subformat=twoGbMaxExtentSparse",
      "subformat=twoGbMaxExtentFlat", "subformat=twoGbMaxExtentSparse,zeroed_grain=on,compat6=on"})
  void readsWhatQemuIoWroteAsQemuImgDoes(String options) throws IOException {
    Path image = dir.resolve("disk.vmdk");
    QemuTools.in(dir).img("create", "-q", "-f", "vmdk", "-o", options, image, SIZE);
    List<Object> io = workload("vmdk");
    io.add(image);
    QemuTools.in(dir).io(io.toArray());
    assertReadsAsQemu(image);
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults())) {
      assertThat(disk.format()).isEqualTo(ImageFormat.VMDK);
      assertThat(disk.size()).isEqualTo(SIZE);
      if (options.contains("zeroed_grain")) {
        Extent zeroed = disk.blockStatus(2 << 20, 64 << 10);
        assertThat(zeroed.present()).isTrue();
        assertThat(zeroed.zero()).isTrue();
        assertThat(zeroed.data()).isFalse();
      }
    }
  }

  @Test
  void readsAStreamOptimizedImageConvertedFromRaw() throws IOException {
    Path raw = dir.resolve("source.raw");
    byte[] bytes = new byte[(int) SIZE];
    Random random = new Random(42);
    for (int start : new int[] {0, 200 << 10, 1 << 20, (int) SIZE - 3000}) {
      byte[] chunk = new byte[Math.min(150_000, bytes.length - start)];
      random.nextBytes(chunk);
      System.arraycopy(chunk, 0, bytes, start, chunk.length);
    }
    Arrays.fill(bytes, 3 << 20, (3 << 20) + 70_000, (byte) 0x77);
    Files.write(raw, bytes);
    Path image = dir.resolve("stream.vmdk");
    QemuTools.in(dir).img("convert", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, image);
    assertReadsAsQemu(image);
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults())) {
      ImageInfo.VmdkInfo vmdk = disk.info().vmdk();
      assertThat(vmdk.createType()).isEqualTo("streamOptimized");
      assertThat(vmdk.extents()).singleElement().satisfies(extent -> assertThat(extent.compressed()).isTrue());
      assertThat(disk.blockStatus(0, 1 << 20).compressed()).isTrue();
    }
  }

  @Test
  void threadsReadingAtOnceEachGetTheirBytes() throws Exception {
    Path raw = dir.resolve("source.raw");
    byte[] bytes = new byte[(int) SIZE];
    new Random(11).nextBytes(bytes);
    Arrays.fill(bytes, 1 << 20, 2 << 20, (byte) 0);
    Files.write(raw, bytes);
    for (String subformat : List.of("streamOptimized", "monolithicSparse")) {
      Path image = dir.resolve(subformat + ".vmdk");
      QemuTools.in(dir).img("convert", "-O", "vmdk", "-o", "subformat=" + subformat, raw, image);
      try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults().withCacheBytes(4096));
          var threads = java.util.concurrent.Executors.newFixedThreadPool(4)) {
        List<java.util.concurrent.Future<Integer>> results = new ArrayList<>();
        for (int thread = 0; thread < 4; thread++) {
          long seed = thread;
          results.add(threads.submit(() -> {
            Random random = new Random(seed);
            for (int i = 0; i < 300; i++) {
              int offset = random.nextInt(bytes.length);
              int length = Math.min(1 + random.nextInt(100_000), bytes.length - offset);
              ByteBuffer piece = random.nextBoolean() ? ByteBuffer.allocate(length) : ByteBuffer.allocateDirect(length);
              disk.readFully(piece, offset);
              byte[] got = new byte[length];
              piece.flip().get(got);
              int mismatch = Arrays.mismatch(got, Arrays.copyOfRange(bytes, offset, offset + length));
              if (mismatch >= 0) {
                return offset + mismatch;
              }
            }
            return -1;
          }));
        }
        for (var result : results) {
          assertThat(result.get()).as("first wrong guest byte of %s", subformat).isEqualTo(-1);
        }
      }
    }
  }

  @Test
  void readsAStreamOptimizedImageWrittenByQemuIo() throws IOException {
    Path image = dir.resolve("stream.vmdk");
    QemuTools.in(dir).img("create", "-q", "-f", "vmdk", "-o", "subformat=streamOptimized", image, SIZE);
    // a streamOptimized extent takes only compressed whole-grain appends
    QemuTools.in(dir).io("-f", "vmdk", "-c", "write -c -P 0x31 0 64k", "-c", "write -c -P 0x32 128k 64k", image);
    assertReadsAsQemu(image);
  }

  @Test
  void splitsAtTheTwoGigabyteExtentBoundaries() throws IOException {
    long size = (4L << 30) + (1 << 20);
    for (String subformat : List.of("twoGbMaxExtentSparse", "twoGbMaxExtentFlat")) {
      Path image = dir.resolve(subformat + ".vmdk");
      QemuTools.in(dir).img("create", "-q", "-f", "vmdk", "-o", "subformat=" + subformat, image, size);
      long boundary = 2L << 30;
      QemuTools.in(dir).io("-f", "vmdk", "-c", "write -P 0x6a " + (boundary - 4096) + " 8192",
          "-c", "write -P 0x6b " + (2 * boundary - 512) + " 4096", "-c", "write -P 0x6c " + (size - 512) + " 512", image);
      try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults())) {
        assertThat(disk.size()).isEqualTo(size);
        assertThat(disk.info().vmdk().extents()).hasSize(3);
        assertPattern(disk, boundary - 4096, 8192, 0x6a);
        assertPattern(disk, 2 * boundary - 512, 4096, 0x6b);
        assertPattern(disk, size - 512, 512, 0x6c);
        assertPattern(disk, boundary + 4096, 4096, 0);
      }
    }
  }

  @Test
  void readsThroughAParentWhoseCidMatches() throws IOException {
    Path base = dir.resolve("base.vmdk");
    Path child = dir.resolve("child.vmdk");
    QemuTools.in(dir).img("create", "-q", "-f", "vmdk", base, SIZE);
    QemuTools.in(dir).io("-f", "vmdk", "-c", "write -P 0x10 0 1M", "-c", "write -P 0x11 2M 1M", base);
    QemuTools.in(dir).img("create", "-q", "-f", "vmdk", "-b", "base.vmdk", "-F", "vmdk", child);
    QemuTools.in(dir).io("-f", "vmdk", "-c", "write -P 0x20 512k 1M", child);
    assertReadsAsQemu(child);
    try (DiskFile disk = DiskImages.open(child, OpenOptions.readOnlyDefaults())) {
      assertThat(disk.backing()).get().isInstanceOf(VmdkFile.class);
      assertThat(disk.info().backingFile()).isEqualTo("base.vmdk");
      assertThat(disk.info().backingFormat()).isEqualTo("vmdk");
      assertThat(disk.blockStatus(2 << 20, 1 << 20).depth()).isEqualTo(1);
    }

    // a qcow2 overlay takes the VMDK as its backing file, probed or named
    Path overlay = dir.resolve("overlay.qcow2");
    QemuTools.in(dir).img("create", "-q", "-f", "qcow2", "-b", "child.vmdk", "-F", "vmdk", overlay);
    assertReadsAsQemu(overlay);

    // a parentCID that no longer matches the parent's CID fails the reads that reach the parent, as in QEMU
    String text = Files.readString(child, StandardCharsets.ISO_8859_1);
    int at = text.indexOf("parentCID=") + "parentCID=".length();
    Files.writeString(child, text.substring(0, at) + "00000bad" + text.substring(at + 8), StandardCharsets.ISO_8859_1);
    assertThat(QemuTools.in(dir).run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "convert", "-O", "raw", child,
        dir.resolve("out.raw")).exitCode()).isNotZero();
    try (DiskFile disk = DiskImages.open(child, OpenOptions.readOnlyDefaults())) {
      assertPattern(disk, 512 << 10, 1 << 20, 0x20);
      assertThatThrownBy(() -> disk.readFully(ByteBuffer.allocate(4096), 3 << 20))
          .isInstanceOf(CorruptImageException.class).hasMessageContaining("parentCID bad");
    }
  }

  @Test
  void refusesReadWriteOpensAndWritesNamingTheFormat() throws IOException {
    Path image = dir.resolve("disk.vmdk");
    QemuTools.in(dir).img("create", "-q", "-f", "vmdk", image, SIZE);
    assertThatThrownBy(() -> DiskImages.open(image, OpenOptions.readWriteDefaults()).close())
        .isInstanceOf(UnsupportedFeatureException.class).hasMessageContaining("'vmdk' is read-only");
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults())) {
      assertThatThrownBy(() -> disk.write(ByteBuffer.allocate(512), 0)).isInstanceOf(ReadOnlyImageException.class)
          .hasMessageContaining("vmdk");
    }
  }

  static void assertPattern(DiskFile disk, long offset, int length, int pattern) throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(length);
    disk.readFully(buffer, offset);
    byte[] expected = new byte[length];
    Arrays.fill(expected, (byte) pattern);
    assertThat(buffer.array()).as("bytes at %d", offset).isEqualTo(expected);
  }

  /** Our reads of {@code image} (probed, and named vmdk) equal what qemu-img convert -O raw writes. */
  void assertReadsAsQemu(Path image) throws IOException {
    Path expected = dir.resolve("expected.raw");
    QemuTools.in(dir).img("convert", "-O", "raw", image, expected);
    byte[] want = Files.readAllBytes(expected);
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults())) {
      assertThat(disk.size()).isEqualTo(want.length);
      ByteBuffer whole = ByteBuffer.allocate(want.length);
      disk.readFully(whole, 0);
      assertThat(Arrays.mismatch(whole.array(), want)).as("first differing byte of %s", image).isEqualTo(-1);
      // small unaligned reads cross grains, extents and compressed grains alike
      Random random = new Random(7);
      for (int i = 0; i < 200; i++) {
        int length = 1 + random.nextInt(150_000);
        int offset = random.nextInt(want.length);
        ByteBuffer piece = ByteBuffer.allocate(length);
        int count = disk.read(piece, offset);
        assertThat(count).isEqualTo(Math.min(length, want.length - offset));
        assertThat(Arrays.mismatch(Arrays.copyOf(piece.array(), count), Arrays.copyOfRange(want, offset, offset + count)))
            .as("read of %d bytes at %d", length, offset).isEqualTo(-1);
      }
    }
    Files.delete(expected);
  }
}
