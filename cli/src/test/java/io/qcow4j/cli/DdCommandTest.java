package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** qemu-img dd, side by side with qemu-img's: the same output image (size, content, allocation) and messages. */
class DdCommandTest {
  private static Path source;

  @BeforeAll
  static void image() {
    source = TestImages.scratch().resolve("dd-source.qcow2");
    Qemu.createQcow2(source, "1M");
    Qemu.io(source, "qcow2", "write -P 0xa 0 300k", "write -P 0xb 700k 5k");
  }

  static Stream<List<String>> copies() {
    return Stream.of(
        List.of("-O", "qcow2"), List.of("-O", "raw"), List.of("bs=5", "-O", "qcow2"), List.of("bs=1999"),
        List.of("bs=64K", "-O", "qcow2"), List.of("bs=1M", "-O", "qcow2"), List.of("bs=4k", "count=3"),
        List.of("bs=4k", "skip=100", "-O", "qcow2"), List.of("bs=4k", "skip=100", "count=10"),
        List.of("count=0"), List.of("bs=3k", "count=1000", "skip=7"));
  }

  @ParameterizedTest
  @MethodSource("copies")
  void copiesAsQemuImgDd(List<String> options) throws Exception {
    String format = options.contains("qcow2") ? "qcow2" : "raw";
    Path ours = Files.createTempFile(TestImages.scratch(), "dd-ours", "." + format);
    Path theirs = Files.createTempFile(TestImages.scratch(), "dd-theirs", "." + format);
    Files.delete(ours);
    Files.delete(theirs);
    Cli.Result ourResult = Cli.run(command("dd", options, ours).toArray(String[]::new));
    List<String> qemu = new ArrayList<>(List.of("qemu-img"));
    qemu.addAll(command("dd", options, theirs));
    Cli.Result theirResult = Qemu.run(qemu.toArray(String[]::new));
    assertThat(ourResult.exitCode()).as(ourResult.err()).isEqualTo(theirResult.exitCode()).isZero();
    assertThat(ourResult.out()).isEqualTo(theirResult.out());
    assertThat(Qemu.check("qemu-img", "compare", "-s", "-f", format, "-F", format, ours.toString(), theirs.toString()))
        .isEqualTo("Images are identical.\n");
    assertThat(Qemu.check("qemu-img", "map", "--output=json", "-f", format, ours.toString()))
        .isEqualTo(Qemu.check("qemu-img", "map", "--output=json", "-f", format, theirs.toString()));
    if (format.equals("qcow2")) {
      assertThat(Qemu.check("qemu-img", "check", ours.toString())).startsWith("No errors were found on the image.\n");
    }
  }

  @Test
  void refusalsAreQemuImgs() {
    Path target = TestImages.scratch().resolve("dd-refused.raw");
    for (List<String> operands : List.of(List.of("if=" + source), List.of("bogus=1", "if=" + source),
        List.of("if=" + source, "of=" + target, "bs=0"), List.of("if=" + source, "of=" + target, "bs=1x"),
        List.of("if=" + source, "of=" + target, "count=-1"), List.of("plain"),
        List.of("if=" + source, "of=" + target, "-O", "bogus"), List.of("if=" + source, "of=" + target, "-O", "bochs"))) {
      List<String> ours = new ArrayList<>(List.of("dd"));
      ours.addAll(operands);
      List<String> theirs = new ArrayList<>(List.of("qemu-img"));
      theirs.addAll(ours);
      Cli.Result ourResult = Cli.run(ours.toArray(String[]::new));
      Cli.Result theirResult = Qemu.run(theirs.toArray(String[]::new));
      assertThat(ourResult.exitCode()).as(String.join(" ", operands)).isEqualTo(theirResult.exitCode()).isEqualTo(1);
      assertThat(ourResult.err()).as(String.join(" ", operands))
          .isEqualTo(theirResult.err().replace("qemu-img: ", "qcow4j: "));
    }
  }

  @Test
  void skipPastTheEndMakesAnEmptyImage() throws Exception {
    Path target = TestImages.scratch().resolve("dd-past-end.raw");
    Cli.Result result = Cli.run("dd", "if=" + source, "of=" + target, "bs=1M", "skip=2");
    assertThat(result.exitCode()).isZero();
    assertThat(result.err()).isEqualTo("qcow4j: " + source + ": cannot skip to specified offset\n");
    assertThat(Files.size(target)).isZero();
  }

  private static List<String> command(String name, List<String> options, Path target) {
    List<String> words = new ArrayList<>(List.of(name));
    words.addAll(options);
    words.add("if=" + source);
    words.add("of=" + target);
    return words;
  }
}
