package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** qcow4j bench against qemu-img bench: the same lines (but the time), the same bytes written, the same failures. */
class BenchCommandTest {
  static Stream<List<String>> runs() {
    return Stream.of(
        List.of("-c", "300"),
        List.of("-c", "150", "-d", "1", "-s", "8k", "-S", "0x3000", "-o", "4k"),
        List.of("-w", "-c", "500", "-d", "16", "-S", "20k", "--pattern=0x5a"),
        List.of("-w", "-c", "64", "-d", "4", "-s", "1M", "--flush-interval=8"),
        List.of("-w", "-c", "64", "-d", "4", "-s", "3k", "-S", "100k", "--flush-interval=4", "--no-drain", "-t", "none"),
        // wraps around the end of the disk
        List.of("-w", "-c", "700", "-d", "2", "-s", "4k", "-S", "12k", "-o", "1M", "--pattern=7"),
        List.of("-c", "0", "-q"));
  }

  @ParameterizedTest
  @MethodSource("runs")
  void printsAndWritesLikeQemuImgBench(List<String> options) {
    Path dir = TestImages.scratch();
    Path ours = dir.resolve("ours.qcow2");
    Path theirs = dir.resolve("theirs.qcow2");
    for (Path image : List.of(ours, theirs)) {
      Qemu.createQcow2(image, "2M", "-o", "cluster_size=16k");
      Qemu.io(image, "qcow2", "write -P 1 0 1M");
    }
    Cli.Result result = Cli.run(Stream.of(Stream.of("bench"), options.stream(), Stream.of(ours.toString()))
        .flatMap(s -> s).toArray(String[]::new));
    String qemuOut = Qemu.check(Stream.of(Stream.of("qemu-img", "bench"), options.stream(), Stream.of(theirs.toString()))
        .flatMap(s -> s).toArray(String[]::new));

    assertThat(result.exitCode()).as(result.err()).isZero();
    assertThat(result.err()).isEmpty();
    assertThat(result.out().lines().toList()).last().asString().matches("Run completed in \\d+\\.\\d{3} seconds\\.");
    assertThat(withoutTime(result.out())).isEqualTo(withoutTime(qemuOut));
    Qemu.check("qemu-img", "compare", ours.toString(), theirs.toString());
    Qemu.check("qemu-img", "check", "-q", ours.toString());
  }

  static Stream<List<String>> failures() {
    return Stream.of(
        List.of("-c", "x"),
        List.of("-d", "-1"),
        List.of("-o", "1x"),
        List.of("-s", "1x"),
        List.of("-S", "1x"),
        List.of("--pattern=300"),
        List.of("-t", "foo"),
        List.of("-i", "foo"),
        List.of("-n"),
        List.of("--flush-interval=8"),
        List.of("-w", "--flush-interval=8", "-d", "16"),
        List.of("-c", "2", "-o", "2M"));
  }

  @ParameterizedTest
  @MethodSource("failures")
  void failuresExitLikeQemuImgBench(List<String> options) {
    Path image = TestImages.scratch().resolve("image.qcow2");
    Qemu.createQcow2(image, "2M");
    Cli.Result ours = Cli.run(Stream.of(Stream.of("bench"), options.stream(), Stream.of(image.toString()))
        .flatMap(s -> s).toArray(String[]::new));
    Cli.Result theirs = Qemu.run(Stream.of(Stream.of("qemu-img", "bench"), options.stream(), Stream.of(image.toString()))
        .flatMap(s -> s).toArray(String[]::new));
    assertThat(theirs.exitCode()).isEqualTo(1);
    assertThat(ours.exitCode()).as(ours.err()).isEqualTo(1);
    assertThat(ours.out()).isEqualTo(theirs.out());
    String theirLine = theirs.errLines().getFirst().replaceFirst("^qemu-img: ", "");
    assertThat(ours.err()).startsWith("qcow4j: " + theirLine.substring(0, Math.min(theirLine.length(), 30)));
  }

  private static String withoutTime(String output) {
    return output.replaceAll("Run completed in \\d+\\.\\d+ seconds\\.", "Run completed.");
  }
}
