package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

/** qcow4j map against qemu-img map: the same merged entries, the same data and zero ranges. */
class MapCommandTest {

  static Stream<String> images() {
    return TestImages.all();
  }

  @ParameterizedTest
  @MethodSource("images")
  void jsonMatchesQemuImg(String name) {
    String image = TestImages.path(name).toString();
    Cli.Result ours = Cli.run("map", "--output=json", image);
    String theirs = Qemu.check("qemu-img", "map", "--output=json", image);

    assertThat(ours.exitCode()).as(ours.err()).isZero();
    assertThat(ranges(ours.out())).as("data and zero ranges").isEqualTo(ranges(theirs));
    assertThat(Json.parse(ours.out())).as("entries, field by field").isEqualTo(Json.parse(theirs));
    assertThat(ours.out()).isEqualTo(theirs);
  }

  @ParameterizedTest
  @MethodSource("images")
  void humanMatchesQemuImg(String name) {
    String image = TestImages.path(name).toString();
    Cli.Result ours = Cli.run("map", image);
    Cli.Result theirs = Qemu.run("qemu-img", "map", image);

    assertThat(ours.exitCode()).as(ours.err()).isEqualTo(theirs.exitCode());
    assertThat(ours.out()).isEqualTo(theirs.out());
    assertThat(ours.errLines()).hasSize(theirs.errLines().size());
  }

  @ParameterizedTest
  @CsvSource({
    "top.qcow2, 1k, 3M", "top.qcow2, 5M, 100M", "sparse.raw, 1000, 2000000", "default.qcow2, 2047k, 1",
    "default.qcow2, 9M, 1M", "c512.qcow2, 0, 0"
  })
  void rangesMatchQemuImg(String name, String start, String length) {
    String image = TestImages.path(name).toString();
    Cli.Result ours = Cli.run("map", "--output=json", "--start-offset", start, "--max-length", length, image);
    String theirs = Qemu.check("qemu-img", "map", "--output=json", "--start-offset", start, "--max-length", length, image);
    assertThat(ours.out()).isEqualTo(theirs);
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "0", "512", "1k", "1K", "1.5k", "1.5", "0x10", "0x10k", "1M", "1G", "2T", "1e3", "-1", "abc", "1.k", "1b",
    "7E", "16E", "1.0000001k", "''", "3.99999m", "0x10k", "0xak", "0x1.5", "0x10E"
  })
  void sizeSuffixesParseLikeQemuImg(String size) {
    String image = TestImages.path("full.raw").toString();
    Cli.Result ours = Cli.run("map", "--output=json", "-f", "raw", "--start-offset", size, "--max-length", "1", image);
    Cli.Result theirs = Qemu.run("qemu-img", "map", "--output=json", "-f", "raw", "--start-offset", size, "--max-length",
        "1", image);
    assertThat(ours.exitCode()).as(ours.err()).isEqualTo(theirs.exitCode());
    assertThat(ours.out()).isEqualTo(theirs.out());
  }

  /** The map as data and zero ranges, neighbours of the same kind joined: what must agree whatever the merging. */
  static List<String> ranges(String json) {
    List<String> ranges = new ArrayList<>();
    long start = -1;
    long end = -1;
    String kind = null;
    for (Object each : (List<?>) Json.parse(json)) {
      Map<?, ?> entry = (Map<?, ?>) each;
      long entryStart = (Long) entry.get("start");
      String entryKind = Boolean.TRUE.equals(entry.get("zero")) ? "zero" : Boolean.TRUE.equals(entry.get("data")) ? "data" : "backing";
      if (entryKind.equals(kind) && entryStart == end) {
        end += (Long) entry.get("length");
        continue;
      }
      if (kind != null) {
        ranges.add(kind + " " + start + ".." + end);
      }
      kind = entryKind;
      start = entryStart;
      end = entryStart + (Long) entry.get("length");
    }
    if (kind != null) {
      ranges.add(kind + " " + start + ".." + end);
    }
    return ranges;
  }
}
