package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** qcow4j convert -O raw against qemu-img convert -O raw: the same bytes, the same holes. */
class ConvertCommandTest {
  private static final long BLOCK = 4096;

  static Stream<String> images() {
    return TestImages.all();
  }

  @ParameterizedTest
  @MethodSource("images")
  void rawOutputEqualsQemuImgs(String name) throws IOException {
    Path image = TestImages.path(name);
    Path dir = TestImages.scratch();
    Path ours = dir.resolve("ours.raw");
    Path theirs = dir.resolve("theirs.raw");

    Cli.Result result = Cli.run("convert", "-O", "raw", image.toString(), ours.toString());
    Qemu.check("qemu-img", "convert", "-O", "raw", image.toString(), theirs.toString());

    assertThat(result.exitCode()).as(result.err()).isZero();
    assertThat(result.out()).isEmpty();
    assertThat(Files.size(ours)).isEqualTo(virtualSize(image)).isEqualTo(Files.size(theirs));
    assertThat(Files.mismatch(ours, theirs)).as("first differing byte").isEqualTo(-1);
    // qemu-img allocates the first block of every raw file it creates; past it the holes must agree
    assertThat(dataBlocks(ours)).isEqualTo(dataBlocks(theirs));
  }

  @Test
  void zeroSparseSizeAllocatesEverythingLikeQemuImg() throws IOException {
    Path image = TestImages.path("default.qcow2");
    Path dir = TestImages.scratch();
    Path ours = dir.resolve("ours.raw");
    Path theirs = dir.resolve("theirs.raw");
    assertThat(Cli.run("convert", "-S", "0", "-O", "raw", image.toString(), ours.toString()).exitCode()).isZero();
    Qemu.check("qemu-img", "convert", "-S", "0", "-O", "raw", image.toString(), theirs.toString());
    assertThat(Files.mismatch(ours, theirs)).isEqualTo(-1);
    assertThat(dataBlocks(ours)).isEqualTo(dataBlocks(theirs)).hasSize((int) (Files.size(ours) / BLOCK) - 1);
  }

  @Test
  void severalSourcesAreConcatenatedLikeQemuImg() throws IOException {
    Path dir = TestImages.scratch();
    Path ours = dir.resolve("ours.raw");
    Path theirs = dir.resolve("theirs.raw");
    String first = TestImages.path("sparse.raw").toString();
    String second = TestImages.path("top.qcow2").toString();
    assertThat(Cli.run("convert", "-O", "raw", first, second, ours.toString()).exitCode()).isZero();
    Qemu.check("qemu-img", "convert", "-O", "raw", first, second, theirs.toString());
    assertThat(Files.mismatch(ours, theirs)).isEqualTo(-1);
    assertThat(dataBlocks(ours)).isEqualTo(dataBlocks(theirs));
  }

  @Test
  void badSparseSizeIsRefused() {
    Path target = TestImages.scratch().resolve("out.raw");
    Cli.Result result = Cli.run("convert", "-S", "1000", TestImages.path("full.raw").toString(), target.toString());
    assertThat(result.exitCode()).isEqualTo(1);
    assertThat(result.errLines()).singleElement().asString().contains("sparse");
  }

  private static long virtualSize(Path image) {
    Map<?, ?> info = (Map<?, ?>) Json.parse(Qemu.check("qemu-img", "info", "--output=json", image.toString()));
    return (Long) info.get("virtual-size");
  }

  /** The 4 KiB blocks of a raw file that hold data on the host, by qemu-img map, block 0 left out. */
  static TreeSet<Long> dataBlocks(Path raw) {
    TreeSet<Long> blocks = new TreeSet<>();
    for (Object each : (List<?>) Json.parse(Qemu.check("qemu-img", "map", "--output=json", "-f", "raw", raw.toString()))) {
      Map<?, ?> entry = (Map<?, ?>) each;
      if (Boolean.TRUE.equals(entry.get("data"))) {
        long start = (Long) entry.get("start");
        long end = start + (Long) entry.get("length");
        for (long block = Math.max(1, start / BLOCK); block * BLOCK < end; block++) {
          blocks.add(block);
        }
      }
    }
    return blocks;
  }
}
