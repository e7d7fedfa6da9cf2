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
    // QEMU's file driver names the file, then qemu-img names the image, qemu-io the device
    String device = command.equals("io") ? "can't open device " + missing + ": "
        : "Could not open '" + missing + "': ";
    assertThat(result.errLines()).singleElement().asString()
        .isEqualTo("qcow4j: " + device + "Could not open '" + missing + "': No such file or directory");
    assertThat(result.err().replace("qcow4j:", theirs[0] + ":")).isEqualTo(Qemu.run(theirs).err());
    assertThat(result.out()).isEmpty();
  }

  @Test
  void debugAddsTheStackTrace() {
    String missing = TestImages.scratch().resolve("missing.qcow2").toString();
    Cli.Result result = Cli.run("info", "--debug", missing);
    assertThat(result.exitCode()).isEqualTo(1);
    assertThat(result.errLines().getFirst())
        .isEqualTo("qcow4j: Could not open '" + missing + "': Could not open '" + missing + "': No such file or directory");
    assertThat(result.err()).contains("\tat ").contains("NoSuchFileException");
  }

  @Test
  void wrongFormatIsOneLineNamingTheFile() {
    String raw = TestImages.path("full.raw").toString();
    Cli.Result result = Cli.run("info", "-f", "qcow2", raw);
    assertThat(result.exitCode()).isEqualTo(Qemu.run("qemu-img", "info", "-f", "qcow2", raw).exitCode()).isEqualTo(1);
    assertThat(result.errLines()).singleElement().asString().startsWith("qcow4j: Could not open '" + raw + "': ");
  }

  /** Usage errors are qemu-img's: getopt's complaint or the command's, then where to find help. */
  @Test
  void usageErrorsAreQemuImgs() {
    String raw = TestImages.path("full.raw").toString();
    for (String[] args : new String[][] {{"info", "--bogus", raw}, {"info", "-x", raw}, {"info", raw, "-f"},
        {"info", "--output"}, {"info", "--form=raw"}, {"info", "--f", raw}, {"info", raw, raw}, {"info"},
        {"inof", "x.qcow2"}, {}, {"map", "-s"}, {"map", raw, raw}, {"map", "--start", "1", "--max=2"},
        {"check", "-r", "some", raw}, {"check", "--rep"}, {"check"}, {"snapshot", "-l", "-c", "a", raw},
        {"snapshot", "-x", raw}, {"snapshot", raw, raw}, {"resize", raw}, {"resize", "-f", raw, "1G"},
        {"resize", "--shrink", raw, raw, "-1G"}, {"resize", "--bogus", raw, "+1G"}, {"amend", raw},
        {"amend", "-o"}, {"amend", "-o", "compat=1.1", "-y", raw}, {"compare", raw}, {"compare", "-x", raw, raw},
        {"compare", raw, raw, raw, "-F"}, {"create", "-f"}, {"create", "-q"}, {"create", "-f", "raw", "x.img", "1M", "2M"},
        {"commit", raw, raw}, {"commit", "--image"}, {"rebase", raw}, {"rebase", "-b"}, {"rebase", "-u", raw, raw},
        {"convert", raw}, {"convert", "-O"}, {"convert", "--targ", raw, raw}, {"convert", "-c", "-C", raw, raw},
        {"convert", "--skip-broken-bitmaps", raw, raw}, {"bench"}, {"bench", raw, "-c"}, {"bench", raw, "--x"},
        {"info", "--output=xml", raw}, {"map", "--output", "XML", raw}, {"measure", "--output=xml", "--size", "1M"},
        // values checked while the options are read: before a later option or the file names
        {"map", "-s", "x", "--bogus"}, {"map", "--max-length=1Q"}, {"measure", "--size", "huge", "-y"},
        {"measure", "--output", "xml", "--bogus"}, {"create", "-o", ",bad", "-y"}, {"convert", "-o", "a,", "-y"},
        {"amend", "-o", ",", "-y"}, {"convert", "-S", "7", "-y"}, {"convert", "-m", "0", "-y"},
        {"resize", "--preallocation=some", raw, "1G"}, {"bench", "-c", "x", "-y"}, {"bench", "-d", "0", "-y"},
        {"bench", "-s", "-1", "-y"}, {"bench", "-i", "bogus", "-y"}, {"bench", "-t", "bogus", "-y"},
        {"bench", "--flush-interval=x", "-y"}}) {
      Cli.Result ours = Cli.run(args);
      Cli.Result theirs = Qemu.run(prepend("qemu-img", args));
      assertThat(ours.exitCode()).as(String.join(" ", args)).isEqualTo(theirs.exitCode()).isEqualTo(Main.USAGE_ERROR);
      assertThat(ours.err()).as(String.join(" ", args)).isEqualTo(theirs.err().replace("qemu-img", "qcow4j"));
      assertThat(ours.out()).isEmpty();
    }
    // measure lets getopt complain, then prints the help and succeeds
    for (String[] args : new String[][] {{"measure", "-x"}, {"measure", "--bogus", raw}, {"measure", "-O"}}) {
      Cli.Result ours = Cli.run(args);
      Cli.Result theirs = Qemu.run(prepend("qemu-img", args));
      assertThat(ours.exitCode()).as(String.join(" ", args)).isEqualTo(theirs.exitCode()).isZero();
      assertThat(ours.err()).as(String.join(" ", args)).isEqualTo(theirs.err());
      assertThat(ours.out()).isEqualTo(Cli.run("--help").out());
    }
    Cli.Result twoFiles = Cli.run("measure", raw, raw);
    assertThat(twoFiles.err()).isEqualTo("qcow4j: At most one filename argument is allowed.\n");
  }

  /** serve reads qemu-nbd's options: glibc's complaint with the program's name, then qemu-nbd's hint. */
  @Test
  void serveUsageErrorsAreQemuNbds() {
    String image = TestImages.path("default.qcow2").toString();
    for (String[] args : new String[][] {{"-U", image}, {"--bogus", image}, {"-x"}, {}, {image, image},
        {"-k", "relative.sock", image}, {"-e", "-1", image}, {"--cache", "bogus", image}, {"-n", "--cache=none", image},
        {"--aio", "bogus", image}, {"--discard=bogus", image}}) {
      Cli.Result ours = Cli.run(prepend("serve", args));
      Cli.Result theirs = Qemu.run(prepend("qemu-nbd", args));
      String expected = theirs.err().replaceAll("(?m)^qemu-nbd: (invalid option|unrecognized option|option )", "qcow4j serve: $1")
          .replace("qemu-nbd --help", "qcow4j serve --help").replaceAll("(?m)^qemu-nbd: ", "qcow4j: ");
      assertThat(ours.exitCode()).as(String.join(" ", args)).isEqualTo(theirs.exitCode()).isEqualTo(1);
      assertThat(ours.err()).as(String.join(" ", args)).isEqualTo(expected);
    }
    assertThat(Cli.run("serve", "--help").out()).startsWith("Usage: qcow4j serve [OPTIONS] FILE\n");
    assertThat(Cli.run("serve", "-V").out()).startsWith("qcow4j version ");
    assertThat(Cli.run("serve", "--selinux-label", "x", image).err())
        .isEqualTo("qcow4j: --selinux-label is not supported by qcow4j\n");
  }

  /** --object is read as the tools read it, while the options are: its help or its error comes first. */
  @Test
  void objectsAreDefinedWhileTheOptionsAreRead() {
    for (String[] args : new String[][] {{"info", "--object", "secret,help"}, {"convert", "--object", "secret,help", "-x"},
        {"map", "--object", "bogus,id=a", "-x"}, {"check", "--object", "secret,id=s0,data=x", "--object", "secret,id=s0,data=y"}}) {
      Cli.Result ours = Cli.run(args);
      Cli.Result theirs = Qemu.run(prepend("qemu-img", args));
      assertThat(ours.exitCode()).as(String.join(" ", args)).isEqualTo(theirs.exitCode());
      assertThat(ours.out()).as(String.join(" ", args)).isEqualTo(theirs.out());
      assertThat(ours.err()).as(String.join(" ", args)).isEqualTo(theirs.err().replace("qemu-img", "qcow4j"));
    }
    // the object types qcow4j has
    Cli.Result types = Cli.run("info", "--object", "help");
    assertThat(types.exitCode()).isZero();
    assertThat(types.out()).isEqualTo("List of user creatable objects:\n  secret\n");
  }

  /** Options and operands in any order, the last of a repeated option winning, "--" ending the options. */
  @Test
  void optionsAreReadAsGetoptLongReadsThem() {
    String raw = TestImages.path("full.raw").toString();
    for (String[] args : new String[][] {{"info", raw, "-f", "raw"}, {"info", "-f", "qcow2", "-fraw", raw},
        {"info", "--form=raw", "--output", "json", raw}, {"info", "--", raw}, {"info", "-Uf", "raw", raw}}) {
      Cli.Result ours = Cli.run(args);
      Cli.Result theirs = Qemu.run(prepend("qemu-img", args));
      assertThat(ours.exitCode()).as(String.join(" ", args)).isZero();
      assertThat(ours.out()).as(String.join(" ", args)).isEqualTo(theirs.out());
    }
  }

  /** --version and --help as qemu-img has them: before the command; after it, --help only. */
  @Test
  void versionAndHelpAsQemuImgHasThem() {
    assertThat(Cli.run("--version").out()).startsWith("qcow4j version ");
    assertThat(Cli.run("-V").out()).startsWith("qcow4j version ");
    for (String command : new String[] {"info", "map", "check", "snapshot", "amend", "compare", "create", "commit",
        "rebase", "convert", "bench"}) {
      Cli.Result version = Cli.run(command, "--version");
      assertThat(version.exitCode()).isEqualTo(Main.USAGE_ERROR);
      assertThat(version.err()).isEqualTo("qcow4j: unrecognized option '--version'\nTry 'qcow4j --help' for more information\n");
      for (String help : new String[] {"--help", "-h", "--he"}) {
        Cli.Result helped = Cli.run(command, help, "ignored");
        assertThat(helped.exitCode()).isZero();
        assertThat(helped.out()).isEqualTo(Cli.run("--help").out());
      }
    }
  }

  /** The help lists every command; unknown commands are qemu-img's "Command not found". */
  @Test
  void helpListsEveryCommand() {
    Cli.Result help = Cli.run("--help");
    assertThat(help.exitCode()).isZero();
    assertThat(help.out()).startsWith("qcow4j version ").contains("usage: qcow4j [standard options] command [command options]");
    for (String command : new String[] {"info", "map", "convert", "compare", "io", "measure", "commit", "rebase",
        "bench", "amend", "serve", "create", "resize", "check", "snapshot", "help"}) {
      assertThat(help.out()).containsPattern("(?m)^  " + command + " ");
    }
    assertThat(Cli.run("help", "info").out()).isEqualTo(help.out());
    Cli.Result none = Cli.run("--debug");
    assertThat(none.exitCode()).isEqualTo(Main.USAGE_ERROR);
    assertThat(none.err()).isEqualTo("qcow4j: Not enough arguments\nTry 'qcow4j --help' for more information\n");
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
