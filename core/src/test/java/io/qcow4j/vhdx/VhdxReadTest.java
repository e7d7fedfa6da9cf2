package io.qcow4j.vhdx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.UnsupportedFeatureException;
import io.qcow4j.testing.QemuTools;
import io.qcow4j.testing.UncachedFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * VHDX images qemu-img creates (dynamic and fixed, several block and log sizes, with and without
 * zero-state blocks), written by qemu-io with patterns, zeros and holes, read byte for byte as
 * qemu-img convert reads them, probed by magic.
 */
class VhdxReadTest {
  @TempDir Path dir;

  /** A qemu-img create recipe and the qemu-io writes made on it. */
  record Recipe(String name, String options, String size, List<String> writes) {
    @Override
    public String toString() {
      return name;
    }
  }

  private static final List<String> WRITES = List.of("write -P 0x5a 1M 64k", "write -P 0x11 5M 3M",
      "write -z 20M 64k", "write -P 0x22 4095k 2k", "write -P 0x33 63M 512", "write -P 0x44 40M 8M");

  static Stream<Recipe> recipes() {
    return Stream.of(
        new Recipe("dynamic", "subformat=dynamic", "64M", WRITES),
        new Recipe("dynamic-1M-blocks", "block_size=1M", "64M", WRITES),
        new Recipe("dynamic-32M-blocks-4M-log", "block_size=32M,log_size=4M", "64M", WRITES),
        new Recipe("dynamic-no-zero-state", "block_state_zero=off", "64M", WRITES),
        new Recipe("dynamic-odd-size", "block_size=2M", "65537k", List.of("write -P 0x61 64M 1k",
            "write -P 0x62 0 4k")),
        new Recipe("fixed", "subformat=fixed", "64M", WRITES),
        new Recipe("fixed-1M-blocks-2M-log", "subformat=fixed,block_size=1M,log_size=2M", "64M", WRITES),
        // 256 MiB blocks: a chunk is 16 blocks, so the BAT has a sector bitmap entry after block 15
        new Recipe("dynamic-sector-bitmap-entries", "block_size=256M", "5G", List.of("write -P 0x71 4G 1M",
            "write -P 0x72 4607M 2M", "write -P 0x73 0 512", "write -P 0x74 5119M 1M")));
  }

  private Path image(Recipe recipe) {
    Path image = dir.resolve(recipe.name() + ".vhdx");
    QemuTools.in(dir).img("create", "-q", "-f", "vhdx", "-o", recipe.options(), image, recipe.size());
    List<Object> args = new java.util.ArrayList<>(List.of("-f", "vhdx"));
    for (String write : recipe.writes()) {
      args.add("-c");
      args.add(write);
    }
    args.add(image);
    QemuTools.in(dir).io(args.toArray());
    return image;
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("recipes")
  void readsWhatQemuImgConvertReads(Recipe recipe) throws IOException {
    Path image = image(recipe);
    Path raw = dir.resolve(recipe.name() + ".raw");
    QemuTools.in(dir).img("convert", "-f", "vhdx", "-O", "raw", image, raw);
    // qemu-img's raw file read directly: through the page cache, the holes of the 5 GiB one took a minute
    try (DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults());
        UncachedFiles expected = UncachedFiles.open(raw)) {
      assertThat(disk.format()).isEqualTo(ImageFormat.VHDX);
      assertThat(disk.size()).isEqualTo(expected.size());
      int chunk = 4 << 20;
      ByteBuffer ours = ByteBuffer.allocateDirect(chunk);
      for (long offset = 0; offset < disk.size(); offset += chunk) {
        int length = (int) Math.min(chunk, disk.size() - offset);
        ours.clear().limit(length);
        disk.readFully(ours, offset);
        ByteBuffer theirs = expected.read(offset, length);
        assertThat(theirs.remaining()).isEqualTo(length);
        assertThat(ours.flip().mismatch(theirs)).as("first differing byte at %d", offset).isEqualTo(-1);
      }
      assertThat(disk.info().clusterSize()).isEqualTo(((VhdxFile) disk).layout().blockSize());
    }
  }

  @Test
  void opensOnlyReadOnly() {
    Path image = image(new Recipe("rw", "subformat=dynamic", "8M", List.of("write -P 1 0 4k")));
    assertThatThrownBy(() -> DiskImages.open(image, OpenOptions.readWriteDefaults()))
        .isInstanceOf(UnsupportedFeatureException.class)
        .hasMessageContaining("'vhdx' is supported read-only");
  }

  @Test
  void aQcow2OverlayReadsItsVhdxBackingFileAsQemuDoes() throws IOException {
    Path base = image(new Recipe("base", "block_size=1M", "8M", List.of("write -P 0x41 0 3M", "write -P 0x42 7M 1M")));
    Path top = dir.resolve("top.qcow2");
    QemuTools.in(dir).img("create", "-q", "-f", "qcow2", "-b", base, "-F", "vhdx", top);
    QemuTools.in(dir).io("-f", "qcow2", "-c", "write -P 0x43 1M 64k", top);
    Path raw = dir.resolve("top.raw");
    QemuTools.in(dir).img("convert", "-O", "raw", top, raw);
    try (DiskFile disk = DiskImages.open(top, OpenOptions.readOnlyDefaults())) {
      assertThat(disk.backing()).get().extracting(DiskFile::format).isEqualTo(ImageFormat.VHDX);
      ByteBuffer contents = ByteBuffer.allocate((int) disk.size());
      disk.readFully(contents, 0);
      assertThat(contents.array()).isEqualTo(java.nio.file.Files.readAllBytes(raw));
    }
  }
}
