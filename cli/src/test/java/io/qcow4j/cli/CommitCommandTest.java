package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** qcow4j commit against qemu-img commit on copies of the same three-level chains: every layer reads the same after. */
class CommitCommandTest {
  static Stream<Arguments> cases() {
    List<Arguments> cases = new ArrayList<>();
    Chains.recipes().forEach(recipe -> {
      cases.add(Arguments.of(recipe, List.of()));
      cases.add(Arguments.of(recipe, List.of("-d")));
      cases.add(Arguments.of(recipe, List.of("-b", recipe.baseFile())));
    });
    return cases.stream();
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("cases")
  void everyLayerReadsAsAfterQemuImgCommit(Chains.Recipe recipe, List<String> options) {
    Path built = Chains.build(recipe);
    Path theirs = Chains.copy(built);
    Path ours = Chains.copy(built);
    List<String> args = new ArrayList<>(List.of("commit"));
    args.addAll(options);
    args.add(ours.resolve("top.qcow2").toString());
    Cli.Result result = Cli.run(args.toArray(String[]::new));
    List<String> qemu = new ArrayList<>(List.of("qemu-img", "commit"));
    qemu.addAll(options);
    qemu.add(theirs.resolve("top.qcow2").toString());
    String qemuOut = Qemu.check(qemu.toArray(String[]::new));

    assertThat(result.exitCode()).as(result.err()).isZero();
    assertThat(result.out()).isEqualTo(qemuOut).isEqualTo("Image committed.\n");
    Chains.assertSameLayers(recipe, ours, theirs);
  }

  @Test
  void anEmptiedImageHasNothingAllocatedLikeQemuImgs() {
    Chains.Recipe recipe = Chains.recipes().findFirst().orElseThrow();
    Path built = Chains.build(recipe);
    Path theirs = Chains.copy(built);
    Path ours = Chains.copy(built);
    assertThat(Cli.run("commit", "-q", ours.resolve("top.qcow2").toString()).exitCode()).isZero();
    Qemu.check("qemu-img", "commit", "-q", theirs.resolve("top.qcow2").toString());
    String ourMap = Qemu.check("qemu-img", "map", "--output=json", ours.resolve("top.qcow2").toString());
    for (Object entry : (List<?>) Json.parse(ourMap)) {
      assertThat(((Map<?, ?>) entry).get("depth")).as(ourMap).isNotEqualTo(0L);
    }
    String theirMap = Qemu.check("qemu-img", "map", "--output=json", theirs.resolve("top.qcow2").toString());
    assertThat(layersOf(ourMap)).as(ourMap + "\n" + theirMap).isEqualTo(layersOf(theirMap));
  }

  /** A base's -o options and what it holds, then the top's commands (qemu-io), for the zeroing cases. */
  record Zeroed(String baseOptions, String baseWrites, String topOptions, List<String> topCommands) {}

  static Stream<Zeroed> zeroedOverlays() {
    List<String> top = List.of("write -z 0 64k", "write -z 100k 4k", "write -z 200k 200k", "write -P 0x22 600k 4k",
        "write -z 900k 8k");
    return Stream.of(
        new Zeroed("compat=1.1", "write -P 0x11 0 512k", "compat=1.1", top),
        new Zeroed("compat=0.10", "write -P 0x11 0 512k", "compat=1.1", top),
        new Zeroed("compat=1.1,extended_l2=on", "write -P 0x11 0 512k", "compat=1.1,extended_l2=on", top),
        new Zeroed("compat=1.1,cluster_size=4096", "write -P 0x11 0 512k", "compat=1.1", top),
        new Zeroed("compat=1.1,cluster_size=1M", "write -P 0x11 0 512k", "compat=1.1", top));
  }

  /**
   * Zeroed clusters of the image leave the base's clusters unallocated or zero, as QEMU's commit
   * job (a mirror: chunks of the base's cluster size, zeroed with unmap where no data is) leaves
   * them; they used to become allocated clusters of zeros.
   */
  @ParameterizedTest
  @MethodSource("zeroedOverlays")
  void zeroedClustersLeaveTheBaseAsQemuImgCommitLeavesIt(Zeroed recipe, @TempDir Path dir) throws Exception {
    for (String side : List.of("ours", "theirs")) {
      Path where = Files.createDirectories(dir.resolve(side));
      String base = where.resolve("base.qcow2").toString();
      String top = where.resolve("top.qcow2").toString();
      Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", "-o", recipe.baseOptions(), base, "1M");
      Qemu.check("qemu-io", "-c", recipe.baseWrites(), base);
      Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", "-o", recipe.topOptions(), "-b", base, "-F", "qcow2", top);
      List<String> io = new ArrayList<>(List.of("qemu-io"));
      recipe.topCommands().forEach(command -> io.addAll(List.of("-c", command)));
      io.add(top);
      Qemu.check(io.toArray(String[]::new));
    }
    Cli.Result result = Cli.run("commit", "-q", dir.resolve("ours/top.qcow2").toString());
    assertThat(result.exitCode()).as(result.err()).isZero();
    Qemu.check("qemu-img", "commit", "-q", dir.resolve("theirs/top.qcow2").toString());
    String ourMap = Qemu.check("qemu-img", "map", "--output=json", dir.resolve("ours/base.qcow2").toString());
    String theirMap = Qemu.check("qemu-img", "map", "--output=json", dir.resolve("theirs/base.qcow2").toString());
    assertThat(layersOf(ourMap)).as(ourMap + "\n" + theirMap).isEqualTo(layersOf(theirMap));
    Qemu.check("qemu-img", "compare", dir.resolve("ours/base.qcow2").toString(),
        dir.resolve("theirs/base.qcow2").toString());
  }

  /**
   * A map without host offsets, adjacent extents of the same kind merged: which layer holds each
   * byte and whether it is data or zeros. qemu-img commit's own host layout of the committed data
   * varies from run to run (its job may write the guest ranges in either order), so only this is
   * compared.
   */
  private static List<List<Object>> layersOf(String mapJson) {
    List<List<Object>> extents = new ArrayList<>();
    for (Object item : (List<?>) Json.parse(mapJson)) {
      Map<?, ?> entry = (Map<?, ?>) item;
      long start = ((Number) entry.get("start")).longValue();
      long length = ((Number) entry.get("length")).longValue();
      List<Object> kind = List.of(entry.get("depth"), entry.get("present"), entry.get("zero"), entry.get("data"));
      List<Object> last = extents.isEmpty() ? null : extents.getLast();
      if (last != null && last.get(2).equals(kind) && (long) last.get(0) + (long) last.get(1) == start) {
        extents.set(extents.size() - 1, List.of(last.get(0), (long) last.get(1) + length, kind));
      } else {
        extents.add(List.of(start, length, kind));
      }
    }
    return extents;
  }

  static Stream<List<String>> failures() {
    return Stream.of(
        List.of("commit", "BASE"),
        List.of("commit", "-b", "nosuch.qcow2", "TOP"),
        List.of("commit", "-b", "top.qcow2", "TOP"),
        List.of("commit", "MISSING"),
        List.of("commit", "-t", "sometimes", "TOP"));
  }

  @ParameterizedTest
  @MethodSource("failures")
  void failuresExitLikeQemuImgWithItsMessage(List<String> template) {
    Path dir = Chains.build(Chains.recipes().findFirst().orElseThrow());
    List<String> args = template.stream().map(word -> switch (word) {
      case "BASE" -> dir.resolve("base.qcow2").toString();
      case "TOP" -> dir.resolve("top.qcow2").toString();
      case "MISSING" -> dir.resolve("missing.qcow2").toString();
      default -> word;
    }).toList();
    Cli.Result ours = Cli.run(args.toArray(String[]::new));
    Cli.Result theirs = Qemu.run(Stream.concat(Stream.of("qemu-img"), args.stream()).toArray(String[]::new));
    assertThat(theirs.exitCode()).isEqualTo(1);
    assertThat(ours.exitCode()).as(ours.err()).isEqualTo(1);
    assertThat(ours.out()).isEmpty();
    String theirLine = theirs.errLines().getFirst().replaceFirst("^qemu-img: ", "");
    assertThat(ours.err()).startsWith("qcow4j: " + theirLine.substring(0, Math.min(theirLine.length(), 50)));
  }
}
