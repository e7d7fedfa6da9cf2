package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** qcow4j measure against qemu-img measure: the same figures, byte for byte, in both output formats. */
class MeasureCommandTest {
  private static final List<String> SIZES = List.of("0", "65537", "1G", "2T");
  private static final List<String> QCOW2_OPTIONS = List.of(
      "", "cluster_size=512", "cluster_size=4k", "cluster_size=2M", "refcount_bits=1", "refcount_bits=8",
      "refcount_bits=64,cluster_size=16k", "extended_l2=on", "extended_l2=on,cluster_size=16k",
      "extended_l2=on,cluster_size=2M", "compat=0.10", "preallocation=metadata", "preallocation=falloc",
      "preallocation=full,cluster_size=1k", "lazy_refcounts=on,compression_type=zstd", "backing_file=base.qcow2");

  static Stream<List<String>> sizeCases() {
    List<List<String>> cases = new ArrayList<>();
    for (String size : SIZES) {
      cases.add(List.of("--size", size));
      for (String options : QCOW2_OPTIONS) {
        List<String> args = new ArrayList<>(List.of("-O", "qcow2", "--size", size));
        if (!options.isEmpty()) {
          args.addAll(List.of("-o", options));
        }
        cases.add(args);
      }
    }
    return cases.stream();
  }

  @ParameterizedTest
  @MethodSource("sizeCases")
  void sizesAndOptionsMeasureLikeQemuImg(List<String> args) {
    assertSameAsQemu(args);
  }

  static Stream<String> images() {
    return TestImages.all();
  }

  @ParameterizedTest
  @MethodSource("images")
  void imagesWithDataMeasureLikeQemuImg(String name) {
    String image = TestImages.path(name).toString();
    assertSameAsQemu(List.of("-O", "qcow2", image));
    assertSameAsQemu(List.of("--output=json", "-O", "qcow2", "-o", "cluster_size=2M,refcount_bits=2", image));
    assertSameAsQemu(List.of("-O", "qcow2", "-o", "compat=0.10,cluster_size=512", image));
    assertSameAsQemu(List.of(image));
  }

  @Test
  void readingAQcow2FileAsRawMeasuresItsBytes() {
    String image = TestImages.path("top.qcow2").toString();
    assertSameAsQemu(List.of("-f", "raw", "-O", "qcow2", image));
    assertSameAsQemu(List.of("-f", "qcow2", "-O", "qcow2", "-o", "backing_file=mid.qcow2", image));
  }

  @Test
  void jsonHasQemuImgsFieldsAndIndentation() {
    Cli.Result result = Cli.run("measure", "--output=json", "-O", "qcow2", TestImages.path("default.qcow2").toString());
    assertThat(result.exitCode()).as(result.err()).isZero();
    assertThat(result.out()).matches("\\{\n    \"bitmaps\": 0,\n    \"required\": \\d+,\n    \"fully-allocated\": \\d+\n}\n");
  }

  static Stream<List<String>> wrongArguments() {
    return Stream.of(
        List.of(),
        List.of("--size", "1G", TestImages.path("default.qcow2").toString()),
        List.of("-f", "qcow2", "--size", "1G"),
        List.of("--size", "1x"),
        List.of("--size", "-5"),
        List.of("--size", "100E"),
        List.of("-O", "qcow2", "-o", "foo=bar", "--size", "1G"),
        List.of("-O", "qcow2", "-o", "cluster_size=3k", "--size", "1G"),
        List.of("-O", "qcow2", "-o", "cluster_size=4k,extended_l2=on", "--size", "1G"),
        List.of("-O", "qcow2", "-o", "extended_l2=maybe", "--size", "1G"),
        List.of("-O", "qcow2", "-o", "refcount_bits=3", "--size", "1G"),
        List.of("-O", "qcow2", "-o", "refcount_bits=8,compat=0.10", "--size", "1G"),
        List.of("-O", "qcow2", "-o", "compat=2", "--size", "1G"),
        List.of("-O", "qcow2", "-o", "preallocation=some", "--size", "1G"),
        List.of("-O", "qcow2", "-o", "cluster_size=512", "--size", "100T"),
        List.of("-O", "qcow2", "-o", "cluster_size=4k,", "--size", "1G"),
        List.of("-O", "vmdk", "--size", "1G"),
        List.of("-O", "nosuchformat", "--size", "1G"),
        List.of("--output=xml", "--size", "1G"),
        List.of("-O", "qcow2", TestImages.scratch().resolve("missing.qcow2").toString()));
  }

  @ParameterizedTest
  @MethodSource("wrongArguments")
  void wrongArgumentsFailLikeQemuImg(List<String> args) {
    Cli.Result ours = Cli.run(Stream.concat(Stream.of("measure"), args.stream()).toArray(String[]::new));
    Cli.Result theirs = Qemu.run(Stream.concat(Stream.of("qemu-img", "measure"), args.stream()).toArray(String[]::new));
    assertThat(theirs.exitCode()).as(theirs.err()).isEqualTo(1);
    assertThat(ours.exitCode()).as(ours.err()).isEqualTo(1);
    assertThat(ours.out()).isEmpty();
    // qemu-img's own words, hint lines included; where qcow4j says more (a format it does not
    // measure, --output, a failed open) the message starts with the same words
    String theirErr = inOurName(theirs.err());
    if (theirErr.contains("does not support size measurement") || theirErr.contains("--output")
        || theirErr.contains("Could not open")) {
      String theirFirstLine = theirErr.lines().findFirst().orElseThrow();
      assertThat(ours.err()).startsWith(theirFirstLine.substring(0, Math.min(48, theirFirstLine.length())));
    } else {
      assertThat(ours.err()).isEqualTo(theirErr);
    }
  }

  /** qemu-img's messages as qcow4j prints them: its name in front of each message line. */
  private static String inOurName(String err) {
    return err.replaceAll("(?m)^qemu-img: ", "qcow4j: ");
  }

  private static void assertSameAsQemu(List<String> args) {
    Cli.Result ours = Cli.run(Stream.concat(Stream.of("measure"), args.stream()).toArray(String[]::new));
    Cli.Result theirs = Qemu.run(Stream.concat(Stream.of("qemu-img", "measure"), args.stream()).toArray(String[]::new));
    assertThat(ours.exitCode()).as("measure %s: %s / qemu-img: %s", args, ours.err(), theirs.err())
        .isEqualTo(theirs.exitCode());
    assertThat(ours.out()).as("measure %s", args).isEqualTo(theirs.out());
    if (theirs.exitCode() != 0) {
      assertThat(ours.err()).isEqualTo(inOurName(theirs.err()));
    }
  }
}
