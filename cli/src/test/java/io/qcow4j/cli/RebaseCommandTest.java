package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * qcow4j rebase against qemu-img rebase on copies of the same chains: the image reads the same, its
 * own allocation (qemu-img map without host offsets) is the same, and the header names the same
 * backing file and format.
 */
class RebaseCommandTest {
  static Stream<Arguments> cases() {
    List<Arguments> cases = new ArrayList<>();
    Chains.recipes().forEach(recipe -> {
      String baseFormat = recipe.baseFormat();
      cases.add(Arguments.of(recipe, List.of("-F", baseFormat, "-b", recipe.baseFile())));
      cases.add(Arguments.of(recipe, List.of("-b", "")));
      cases.add(Arguments.of(recipe, List.of("-u", "-F", baseFormat, "-b", recipe.baseFile())));
      cases.add(Arguments.of(recipe, List.of("-F", "raw", "-b", "other.raw")));
    });
    cases.add(Arguments.of(Chains.recipes().findFirst().orElseThrow(), List.of("-F", "qcow2", "-b", "mid.qcow2")));
    cases.add(Arguments.of(Chains.recipes().findFirst().orElseThrow(), List.of("-u")));
    return cases.stream();
  }

  /** -F takes any block driver QEMU has, host_device too (iotest 031); -u records it in the header as qemu-img does. */
  @org.junit.jupiter.api.Test
  void unsafeRebaseRecordsAnyQemuDriverName() throws java.io.IOException {
    Path ours = TestImages.scratch().resolve("rebase-host-device-ours.qcow2");
    Path theirs = TestImages.scratch().resolve("rebase-host-device-theirs.qcow2");
    for (Path image : List.of(ours, theirs)) {
      java.nio.file.Files.deleteIfExists(image);
      Qemu.createQcow2(image, "64M");
    }
    Cli.Result result = Cli.run("rebase", "-u", "-b", "/some/backing/file/path", "-F", "host_device", ours.toString());
    Qemu.check("qemu-img", "rebase", "-u", "-b", "/some/backing/file/path", "-F", "host_device", theirs.toString());
    assertThat(result.exitCode()).as(result.err()).isZero();
    byte[] ourHeader = java.util.Arrays.copyOf(java.nio.file.Files.readAllBytes(ours), 4096);
    byte[] theirHeader = java.util.Arrays.copyOf(java.nio.file.Files.readAllBytes(theirs), 4096);
    assertThat(ourHeader).isEqualTo(theirHeader);
    Cli.Result bogus = Cli.run("rebase", "-u", "-b", "x", "-F", "bogus", ours.toString());
    assertThat(bogus.err()).isEqualTo("qcow4j: Invalid format name: 'bogus'\n");
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("cases")
  void theImageReadsAndMapsAsAfterQemuImgRebase(Chains.Recipe recipe, List<String> options) {
    Path built = Chains.build(recipe);
    // an unrelated new backing file, shorter than the image, sharing some of the old chain's content
    Qemu.check("qemu-img", "create", "-q", "-f", "raw", built.resolve("other.raw").toString(), "3M");
    Qemu.io(built.resolve("other.raw"), "raw", "write -P 2 0 100k", "write -P 1 2M 1M", "write -P 3 1M 4k");
    // copies made alike, so that both start with the same host allocation
    Path theirs = Chains.copy(built);
    Path ours = Chains.copy(built);

    Cli.Result result = Cli.run(command("rebase", options, ours));
    Qemu.check(command("qemu-img rebase", options, theirs));

    assertThat(result.exitCode()).as(result.err()).isZero();
    assertThat(result.out()).isEmpty();
    String image = ours.resolve("top.qcow2").toString();
    Qemu.check("qemu-img", "check", "-q", image);
    Qemu.check("qemu-img", "compare", image, theirs.resolve("top.qcow2").toString());
    if (!options.contains("-u")) {
      // the safe modes never change what the image reads
      Qemu.check("qemu-img", "compare", image, built.resolve("top.qcow2").toString());
    }
    assertThat(allocation(ours)).isEqualTo(allocation(theirs));
    assertThat(backingOf(ours)).isEqualTo(backingOf(theirs));
  }

  static Stream<List<String>> failures() {
    return Stream.of(
        List.of("rebase", "TOP"),
        List.of("rebase", "-b", "base.qcow2", "TOP"),
        List.of("rebase", "-u", "-b", "base.qcow2", "TOP"),
        List.of("rebase", "-F", "qcow2", "-b", "nosuch.qcow2", "TOP"),
        List.of("rebase", "-F", "xyz", "-b", "base.qcow2", "TOP"),
        List.of("rebase", "-f", "raw", "-F", "qcow2", "-b", "base.qcow2", "TOP"),
        List.of("rebase", "-F", "qcow2", "-b", "base.qcow2", "MISSING"));
  }

  @ParameterizedTest
  @MethodSource("failures")
  void failuresExitLikeQemuImgAndLeaveTheImageAlone(List<String> template) {
    Path dir = Chains.build(Chains.recipes().findFirst().orElseThrow());
    Path copy = Chains.copy(dir);
    List<String> args = template.stream().map(word -> switch (word) {
      case "TOP" -> dir.resolve("top.qcow2").toString();
      case "MISSING" -> dir.resolve("missing.qcow2").toString();
      default -> word;
    }).toList();
    Cli.Result ours = Cli.run(args.toArray(String[]::new));
    assertThat(ours.exitCode()).as(ours.err()).isEqualTo(1);
    assertThat(ours.out()).isEmpty();
    Qemu.check("qemu-img", "compare", dir.resolve("top.qcow2").toString(), copy.resolve("top.qcow2").toString());
    assertThat(backingOf(dir)).isEqualTo(backingOf(copy));
    Cli.Result theirs = Qemu.run(Stream.concat(Stream.of("qemu-img"), args.stream()).toArray(String[]::new));
    // one line, or two for a usage error ("Try 'qemu-img --help' ...") as qemu-img prints them
    assertThat(ours.errLines()).hasSameSizeAs(theirs.errLines());
    assertThat(theirs.exitCode()).isEqualTo(1);
    String theirLine = theirs.errLines().getFirst().replaceFirst("^qemu-img: ", "");
    assertThat(ours.err()).startsWith("qcow4j: " + theirLine.substring(0, Math.min(theirLine.length(), 50)));
  }

  private static String[] command(String words, List<String> options, Path dir) {
    List<String> command = new ArrayList<>(List.of(words.split(" ")));
    command.addAll(options);
    command.add(dir.resolve("top.qcow2").toString());
    return command.toArray(String[]::new);
  }

  /** The image's qemu-img map, without host offsets. */
  private static List<String> allocation(Path dir) {
    String map = Qemu.check("qemu-img", "map", "--output=json", dir.resolve("top.qcow2").toString());
    List<String> entries = new ArrayList<>();
    for (Object entry : (List<?>) Json.parse(map)) {
      Map<?, ?> fields = (Map<?, ?>) entry;
      entries.add(fields.get("start") + "+" + fields.get("length") + " depth " + fields.get("depth") + " present "
          + fields.get("present") + " zero " + fields.get("zero") + " data " + fields.get("data"));
    }
    return entries;
  }

  private static List<Object> backingOf(Path dir) {
    Map<?, ?> info = (Map<?, ?>) Json.parse(Qemu.check("qemu-img", "info", "--output=json", "-U",
        dir.resolve("top.qcow2").toString()));
    List<Object> backing = new ArrayList<>();
    backing.add(info.get("backing-filename"));
    backing.add(info.get("backing-filename-format"));
    return backing;
  }
}
