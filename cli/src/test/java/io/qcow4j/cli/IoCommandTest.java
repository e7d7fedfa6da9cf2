package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** qcow4j io against qemu-io: the same lines (timings masked), the same streams, the same exit status. */
class IoCommandTest {
  /** qemu-io's throughput line: its numbers depend on the clock. */
  private static final Pattern TIMING = Pattern.compile(
      "^(\\S+ \\S+, \\d+ ops; ).*\\(.* and .* ops/sec\\)$", Pattern.MULTILINE);
  private static final Pattern PARSABLE_TIMING = Pattern.compile("^(\\d+,\\d+,)\\d+:\\d\\d:\\d\\d\\.\\d\\d,.*$", Pattern.MULTILINE);

  private static final List<String> COMMANDS = List.of(
      "read -P 1 32k 68k", "read -P 0 1M 200k", "read -v 2047k 40", "read -P 2 2047k 3k", "read -P 9 0 512",
      "length", "map", "read 0 100M", "read -q -P 3 5M 64k", "read -P 0 -s 512 -l 1k 1M 4k", "read  -C  0 1k",
      "read 1.5k 1k", "read 0x10 16", "read 1.5 1", "read -P 300 0 1", "read -P 0x0 -s 1k -l 4k 0 4k", "read 0 3G",
      "read -z 0 1", "read 1", "read -P", "length 1", "bogus 1", "read -P 0 -- 9M 512", "r 0 1", "len");

  @ParameterizedTest
  @ValueSource(strings = {"sparse.raw", "default.qcow2", "top.qcow2", "compressed-zstd.qcow2", "extl2.qcow2", "datafile-raw.qcow2"})
  void commandsPrintWhatQemuIoPrints(String name) {
    Path image = TestImages.path(name);
    String format = name.endsWith(".raw") ? "raw" : "qcow2";
    List<String> ours = new ArrayList<>(List.of("io", "-r", "-f", format));
    List<String> theirs = new ArrayList<>(List.of("qemu-io", "-r", "-f", format));
    for (String command : COMMANDS) {
      ours.addAll(List.of("-c", command));
      theirs.addAll(List.of("-c", command));
    }
    ours.add(image.toString());
    theirs.add(image.toString());

    Cli.Result ourResult = Cli.run(ours.toArray(String[]::new));
    Cli.Result theirResult = Qemu.run(theirs.toArray(String[]::new));

    assertThat(ourResult.exitCode()).isEqualTo(theirResult.exitCode()).isEqualTo(1);
    assertThat(masked(ourResult.out())).isEqualTo(masked(theirResult.out()));
    assertThat(ourResult.err()).isEqualTo(theirResult.err());
  }

  @Test
  void successfulCommandsExitZeroLikeQemuIo() {
    String image = TestImages.path("top.qcow2").toString();
    String[] commands = {"-c", "read -P 1 0 48k", "-c", "read -P 6 4092k 8k", "-c", "length"};
    Cli.Result ours = Cli.run(concat(new String[] {"io", "-r"}, commands, image));
    Cli.Result theirs = Qemu.run(concat(new String[] {"qemu-io", "-r"}, commands, image));
    assertThat(ours.exitCode()).isEqualTo(theirs.exitCode()).isZero();
    assertThat(masked(ours.out())).isEqualTo(masked(theirs.out()));
  }

  @Test
  void patternFailureExitsOneAndNamesTheOffset() {
    Cli.Result ours = Cli.run("io", "-c", "read -P 0x41 1M 512", TestImages.path("default.qcow2").toString());
    assertThat(ours.exitCode()).isEqualTo(1);
    assertThat(ours.out()).startsWith("Pattern verification failed at offset 1048576, 512 bytes\n");
  }

  @Test
  void rawImagesOpenReadWriteAndWritesAreRefusedClearly() throws Exception {
    Path copy = TestImages.scratch().resolve("rw.raw");
    Files.copy(TestImages.path("full.raw"), copy);
    Cli.Result ours = Cli.run("io", "-f", "raw", "-c", "write -P 1 0 512", "-c", "length", copy.toString());
    assertThat(ours.exitCode()).isEqualTo(1);
    assertThat(ours.out()).isEqualTo("1 MiB\n");
    assertThat(ours.errLines()).singleElement().asString().contains("\"write\"").contains("not supported");
  }

  @Test
  void withoutCommandsItRefusesTheInteractiveMode() {
    Cli.Result ours = Cli.run("io", TestImages.path("full.raw").toString());
    assertThat(ours.exitCode()).isEqualTo(1);
    assertThat(ours.errLines()).singleElement().asString().contains("-c");
  }

  private static String masked(String output) {
    String masked = TIMING.matcher(output).replaceAll("$1<time>");
    return PARSABLE_TIMING.matcher(masked).replaceAll("$1<time>");
  }

  private static String[] concat(String[] head, String[] middle, String last) {
    List<String> all = new ArrayList<>(List.of(head));
    all.addAll(List.of(middle));
    all.add(last);
    return all.toArray(String[]::new);
  }
}
