package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/qcow4j run as qemu-io (through a link of that name) against the real qemu-io, as QEMU's
 * iotests run it: stdout and stderr merged into one stream (so C's buffered stdout decides where
 * the error lines land), commands from a pipe after the prompt, sigraise and abort ending the
 * process by the signal with what was printed before it.
 */
class QemuIoProcessIT {
  private static final Pattern TIMING = Pattern.compile(
      "^(\\S+ \\S+, \\d+ ops; ).*\\(.* and .* ops/sec\\)$", Pattern.MULTILINE);

  @TempDir Path dir;
  private Path link;

  @BeforeEach
  void link() throws Exception {
    Path tool = Path.of("..", "bin", "qcow4j").toAbsolutePath().normalize();
    assertThat(tool).exists();
    Files.createDirectories(dir.resolve("bin"));
    link = dir.resolve("bin").resolve("qemu-io");
    Files.createSymbolicLink(link, tool);
    for (String side : List.of("theirs", "ours")) {
      Files.createDirectories(dir.resolve(side));
      Qemu.createQcow2(dir.resolve(side).resolve("image.qcow2"), "1M");
    }
  }

  @AfterEach
  void removeLink() throws Exception {
    Files.deleteIfExists(link);
  }

  @Test
  void errorLinesLandAmongStdoutLinesWhereQemuIosDo() {
    List<String> commands = new ArrayList<>();
    for (int i = 0; i < 150; i++) {
      // enough output to pass 4096-byte blocks of stdout, lines of a length that does not depend
      // on timing, with an error line now and then
      commands.addAll(List.of("-c", "write -q -P " + (i % 200) + " " + i * 4 + "k 4k", "-c", "alloc " + i * 4 + "k 8k"));
      if (i % 7 == 0) {
        commands.addAll(List.of("-c", "bogus" + i));
      }
    }
    commands.addAll(List.of("-c", "read -P 0 0 4k", "-c", "open x"));
    sameMerged("", commands);
  }

  @Test
  void commandsFromAPipeGetThePromptAndEachIsFlushed() {
    String script = "write -P 1 0 4k\nbogus\nread -P 1 0 4k\nread -P 2 0 512\nclose\nread 0 1\nhelp close\n";
    sameMerged(script, List.of());
    sameMerged("", List.of());
  }

  @Test
  void sigraiseEndsTheProcessByTheSignalAfterFlushingStdout() {
    for (String signal : List.of("9", "15")) {
      List<String> commands = List.of("-c", "write -P 5 0 64k", "-c", "bogus", "-c", "sigraise " + signal, "-c",
          "read 0 1");
      sameMerged("", commands);
    }
    Cli.Result killed = run("ours", "", List.of("-c", "write -P 6 0 4k", "-c", "sigraise 9"));
    assertThat(killed.exitCode()).isEqualTo(137);
    assertThat(killed.out()).startsWith("wrote 4096/4096 bytes at offset 0\n");
    // the data written before the signal is in the image, read by QEMU
    Qemu.check("qemu-io", "-c", "read -P 6 0 4k", dir.resolve("ours").resolve("image.qcow2").toString());
  }

  /** abort dies of SIGABRT, and like abort(3) leaves what stdout buffered unwritten. */
  @Test
  void abortEndsTheProcessWithoutFlushingStdout() {
    sameMerged("", List.of("-c", "write -P 5 0 4k", "-c", "bogus", "-c", "abort", "-c", "read 0 1"));
    Cli.Result aborted = run("ours", "", List.of("-c", "write -P 5 0 4k", "-c", "abort"));
    assertThat(aborted.exitCode()).isEqualTo(134);
    assertThat(aborted.out()).isEmpty();
  }

  /** Both tools on their own copy of the image, stdout and stderr merged; the same exit status and text. */
  private void sameMerged(String input, List<String> commands) {
    Cli.Result theirs = run("theirs", input, commands);
    Cli.Result ours = run("ours", input, commands);
    assertThat(ours.exitCode()).as("exit status\nqemu: %s\nours: %s", theirs, ours).isEqualTo(theirs.exitCode());
    assertThat(normalize(ours.out(), "ours")).isEqualTo(normalize(theirs.out(), "theirs"));
  }

  private Cli.Result run(String side, String input, List<String> commands) {
    List<String> command = new ArrayList<>(List.of(side.equals("ours") ? link.toString() : "qemu-io"));
    command.addAll(commands);
    command.add(dir.resolve(side).resolve("image.qcow2").toString());
    return Qemu.runWithInput(input, true, command.toArray(String[]::new));
  }

  private String normalize(String output, String side) {
    return TIMING.matcher(output.replace(dir.resolve(side) + "/", "@/")).replaceAll("$1<time>");
  }
}
