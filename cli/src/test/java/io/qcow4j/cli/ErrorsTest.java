package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Every failure is one line on stderr naming the file, with qemu-img's exit status; stack traces only with --debug. */
class ErrorsTest {

  @ParameterizedTest
  @CsvSource({"info", "map", "compare", "convert", "io"})
  void missingFileIsOneLineWithQemuStatus(String command) {
    String missing = TestImages.scratch().resolve("missing.qcow2").toString();
    String other = TestImages.path("full.raw").toString();
    String out = TestImages.scratch().resolve("out.raw").toString();
    String[] ours = switch (command) {
      case "compare" -> new String[] {"compare", missing, other};
      case "convert" -> new String[] {"convert", "-O", "raw", missing, out};
      case "io" -> new String[] {"io", "-c", "length", missing};
      default -> new String[] {command, missing};
    };
    Cli.Result result = Cli.run(ours);
    String[] theirs = new String[ours.length];
    theirs[0] = command.equals("io") ? "qemu-io" : "qemu-img";
    System.arraycopy(ours, command.equals("io") ? 1 : 0, theirs, 1, ours.length - 1);
    if (!command.equals("io")) {
      theirs = prepend("qemu-img", ours);
    }

    assertThat(result.exitCode()).isEqualTo(Qemu.run(theirs).exitCode()).isNotZero();
    assertThat(result.errLines()).singleElement().asString()
        .isEqualTo("qcow4j: Could not open '" + missing + "': No such file or directory");
    assertThat(result.out()).isEmpty();
  }

  @Test
  void debugAddsTheStackTrace() {
    String missing = TestImages.scratch().resolve("missing.qcow2").toString();
    Cli.Result result = Cli.run("info", "--debug", missing);
    assertThat(result.exitCode()).isEqualTo(1);
    assertThat(result.errLines().getFirst()).isEqualTo("qcow4j: Could not open '" + missing + "': No such file or directory");
    assertThat(result.err()).contains("\tat ").contains("NoSuchFileException");
  }

  @Test
  void wrongFormatIsOneLineNamingTheFile() {
    String raw = TestImages.path("full.raw").toString();
    Cli.Result result = Cli.run("info", "-f", "qcow2", raw);
    assertThat(result.exitCode()).isEqualTo(Qemu.run("qemu-img", "info", "-f", "qcow2", raw).exitCode()).isEqualTo(1);
    assertThat(result.errLines()).singleElement().asString().startsWith("qcow4j: Could not open '" + raw + "': ");
  }

  @Test
  void usageErrorsAreOneLine() {
    Cli.Result unknown = Cli.run("info", "--bogus", TestImages.path("full.raw").toString());
    assertThat(unknown.exitCode()).isEqualTo(Qemu.run("qemu-img", "info", "--bogus", "x").exitCode());
    assertThat(unknown.errLines()).singleElement().asString().startsWith("qcow4j: ").contains("--bogus");

    Cli.Result output = Cli.run("map", "--output=xml", TestImages.path("full.raw").toString());
    assertThat(output.exitCode()).isEqualTo(1);
    assertThat(output.errLines()).singleElement().asString().contains("--output");

    Cli.Result noFile = Cli.run("compare", TestImages.path("full.raw").toString());
    assertThat(noFile.exitCode()).isEqualTo(2);
    assertThat(noFile.errLines()).hasSize(1);

    Cli.Result nothing = Cli.run();
    assertThat(nothing.exitCode()).isEqualTo(1);
    assertThat(nothing.errLines()).hasSize(1);
  }

  @Test
  void versionAndHelpForEveryCommand() {
    assertThat(Cli.run("--version").out()).startsWith("qcow4j version ");
    for (String command : new String[] {"info", "map", "convert", "compare", "io", "create", "resize", "check", "snapshot"}) {
      Cli.Result version = Cli.run(command, "--version");
      assertThat(version.exitCode()).isZero();
      assertThat(version.out()).startsWith("qcow4j version ");
      Cli.Result help = Cli.run(command, "--help");
      assertThat(help.exitCode()).isZero();
      assertThat(help.out()).startsWith("Usage: qcow4j " + command);
    }
  }

  /** Main adds only the subcommand a command line names; help and unknown names still see them all. */
  @Test
  void helpAndUnknownCommandsSeeEverySubcommand() {
    Cli.Result help = Cli.run("--help");
    assertThat(help.exitCode()).isZero();
    for (String command : new String[] {"info", "map", "convert", "compare", "io", "measure", "commit", "rebase",
        "bench", "amend", "serve", "create", "resize", "check", "snapshot", "help"}) {
      assertThat(help.out()).containsPattern("(?m)^  " + command + " ");
    }
    assertThat(Cli.run("help", "info").out()).startsWith("Usage: qcow4j info");
    Cli.Result unknown = Cli.run("inof", "x.qcow2");
    assertThat(unknown.exitCode()).isEqualTo(Main.USAGE_ERROR);
    assertThat(unknown.errLines()).singleElement().asString().startsWith("qcow4j: Unmatched arguments from index 0: 'inof'");
    Cli.Result none = Cli.run("--debug");
    assertThat(none.exitCode()).isEqualTo(Main.USAGE_ERROR);
    assertThat(none.err()).contains("Not enough arguments");
  }

  @Test
  void unreadableTargetDirectoryIsOneLine() {
    Path target = TestImages.scratch().resolve("no/such/dir/out.raw");
    Cli.Result result = Cli.run("convert", "-O", "raw", TestImages.path("full.raw").toString(), target.toString());
    assertThat(result.exitCode()).isEqualTo(1);
    assertThat(result.errLines()).singleElement().asString().startsWith("qcow4j: " + target + ": ");
  }

  private static String[] prepend(String first, String[] rest) {
    String[] all = new String[rest.length + 1];
    all[0] = first;
    System.arraycopy(rest, 0, all, 1, rest.length);
    return all;
  }
}
