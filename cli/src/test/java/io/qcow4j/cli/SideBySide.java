package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Runs one command line twice, with qemu-img or qemu-io in one scratch directory and with qcow4j
 * in another, so that the commands that create and change images can be compared: "@/name" in an
 * argument stands for a file in the directory of the run, and comes back as "@/name" in the output.
 * The outputs are compared after the program names, qemu-io's timings and QEMU's missing newline
 * after a hint are evened out.
 */
final class SideBySide {
  private static final Pattern TIMING = Pattern.compile(
      "^(\\S+ \\S+, \\d+ ops; ).*\\(.* and .* ops/sec\\)$", Pattern.MULTILINE);
  private static final Pattern PARSABLE_TIMING = Pattern.compile("^(\\d+,\\d+,)\\d+:\\d\\d:\\d\\d\\.\\d\\d,.*$", Pattern.MULTILINE);

  final Path theirs = TestImages.scratch();
  final Path ours = TestImages.scratch();

  /** Both runs of one command line, normalized. */
  record Runs(String command, Cli.Result theirs, Cli.Result ours) {
    /** Asserts the same exit status, stdout and stderr. */
    Runs same() {
      assertThat(ours.exitCode()).as("exit status of " + command + "\n" + this).isEqualTo(theirs.exitCode());
      assertThat(ours.out()).as("stdout of " + command).isEqualTo(theirs.out());
      assertThat(ours.err()).as("stderr of " + command).isEqualTo(theirs.err());
      return this;
    }

    @Override
    public String toString() {
      return "qemu: " + theirs + "\nours: " + ours;
    }
  }

  /** Copies a file into both directories under {@code name}. */
  SideBySide copy(Path source, String name) {
    try {
      Files.copy(source, theirs.resolve(name), StandardCopyOption.REPLACE_EXISTING);
      Files.copy(source, ours.resolve(name), StandardCopyOption.REPLACE_EXISTING);
      return this;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Writes {@code text} into both directories as file {@code name} (a blkdebug config...). */
  SideBySide write(String name, String text) {
    try {
      Files.writeString(theirs.resolve(name), text);
      Files.writeString(ours.resolve(name), text);
      return this;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Runs {@code tool} ("qemu-img" or "qemu-io") with {@code args} and the matching qcow4j command. */
  Runs run(String tool, String... args) {
    List<String> qemu = new ArrayList<>(List.of(tool));
    List<String> qcow4j = new ArrayList<>();
    if (tool.equals("qemu-io")) {
      qcow4j.add("io");
    }
    for (String arg : args) {
      qemu.add(arg.replace("@/", theirs + "/"));
      qcow4j.add(arg.replace("@/", ours + "/"));
    }
    Cli.Result qemuResult = Qemu.run(qemu.toArray(String[]::new));
    Cli.Result ourResult = Cli.run(qcow4j.toArray(String[]::new));
    return new Runs(String.join(" ", args), normalize(qemuResult, theirs), normalize(ourResult, ours));
  }

  /** Runs the command with the real tool only, in its directory (to prepare a test). */
  Cli.Result theirsOnly(String tool, String... args) {
    List<String> qemu = new ArrayList<>(List.of(tool));
    for (String arg : args) {
      qemu.add(arg.replace("@/", theirs + "/"));
    }
    return Qemu.run(qemu.toArray(String[]::new));
  }

  private static Cli.Result normalize(Cli.Result result, Path dir) {
    return new Cli.Result(result.exitCode(), normalize(result.out(), dir), normalizeErr(normalize(result.err(), dir)));
  }

  private static String normalize(String text, Path dir) {
    String masked = text.replace(dir + "/", "@/");
    masked = TIMING.matcher(masked).replaceAll("$1<time>");
    return PARSABLE_TIMING.matcher(masked).replaceAll("$1<time>");
  }

  private static String normalizeErr(String err) {
    String text = err.replaceAll("(?m)^qemu-img: ", "qcow4j: ").replaceAll("(?m)^qemu-io: ", "qcow4j: ")
        .replace("Try 'qemu-img --help'", "Try 'qcow4j --help'").replace("'qemu-img rebase'", "'qcow4j rebase'");
    // QEMU ends a hint such as "Detected format of qcow2." without a newline; qcow4j ends the line
    return text.isEmpty() || text.endsWith("\n") ? text : text + "\n";
  }
}
