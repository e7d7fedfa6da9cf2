package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/qcow4j run through symbolic links named qemu-img, qemu-io and qemu-nbd is that tool: its
 * command line, its message prefix, its --version; compared with the real tools where they agree.
 */
class ToolNamesIT {
  @TempDir Path dir;
  private Path image;

  @BeforeEach
  void links() throws Exception {
    Path tool = Path.of("..", "bin", "qcow4j").toAbsolutePath().normalize();
    assertThat(tool).exists();
    Files.createDirectories(dir.resolve("bin"));
    for (String name : new String[] {"qemu-img", "qemu-io", "qemu-nbd"}) {
      Files.createSymbolicLink(dir.resolve("bin").resolve(name), tool);
    }
    image = dir.resolve("image.qcow2");
    Qemu.createQcow2(image, "1M");
    Qemu.io(image, "qcow2", "write -P 7 0 64k");
  }

  /** The links go before the temporary directory does (JUnit warns about links it deletes). */
  @AfterEach
  void removeLinks() throws Exception {
    for (String name : new String[] {"qemu-img", "qemu-io", "qemu-nbd"}) {
      Files.deleteIfExists(dir.resolve("bin").resolve(name));
    }
  }

  @Test
  void qemuImgIsQemuImg() {
    String file = image.toString();
    for (String[] args : new String[][] {{"info", file}, {"info", "--output", "json", file, "-f", "qcow2"},
        {"info", "--bogus", file}, {"info", "-f"}, {"io", file}, {"serve", file}, {}}) {
      Cli.Result ours = ours("qemu-img", args);
      Cli.Result theirs = Qemu.run(prepend("qemu-img", args));
      assertThat(ours.exitCode()).as(String.join(" ", args)).isEqualTo(theirs.exitCode());
      assertThat(ours.out()).as(String.join(" ", args)).isEqualTo(theirs.out());
      assertThat(ours.err()).as(String.join(" ", args)).isEqualTo(theirs.err());
    }
    assertThat(ours("qemu-img", "--version").out()).startsWith("qemu-img version 7.2.0 (qcow4j ");
    assertThat(ours("qemu-img", "--help").out()).contains("usage: qemu-img [standard options] command [command options]");
  }

  @Test
  void qemuIoIsQemuIo() {
    Cli.Result ours = ours("qemu-io", "-f", "qcow2", "-c", "read -P 7 0 64k", image.toString());
    assertThat(ours.exitCode()).isZero();
    assertThat(ours.out()).startsWith("read 65536/65536 bytes at offset 0\n");
    Cli.Result version = ours("qemu-io", "-V");
    assertThat(version.out()).startsWith("qemu-io version 7.2.0 (qcow4j ");
    Cli.Result bad = ours("qemu-io", "-f", "qcow2", "-c", "read 0 512", image.toString(), "extra");
    assertThat(bad.exitCode()).isEqualTo(1);
    assertThat(bad.out()).startsWith("Usage: qemu-io [OPTIONS]... [-c STRING]... [file]\n");
  }

  @Test
  void qemuNbdIsQemuNbd() {
    assertThat(ours("qemu-nbd", "--version").out()).startsWith("qemu-nbd 7.2.0 (qcow4j ");
    assertThat(ours("qemu-nbd", "--help").out()).startsWith("Usage: qemu-nbd [OPTIONS] FILE\n");
    Cli.Result none = ours("qemu-nbd");
    assertThat(none.exitCode()).isEqualTo(1);
    assertThat(none.err()).startsWith("qemu-nbd: ");
  }

  @Test
  void qcow4jKeepsItsName() {
    Path tool = Path.of("..", "bin", "qcow4j").toAbsolutePath().normalize();
    Cli.Result version = Qemu.run(tool.toString(), "--version");
    assertThat(version.out()).startsWith("qcow4j version ");
    Cli.Result unknown = Qemu.run(tool.toString(), "info", "--bogus", image.toString());
    assertThat(unknown.err()).isEqualTo("qcow4j: unrecognized option '--bogus'\nTry 'qcow4j --help' for more information\n");
  }

  private Cli.Result ours(String name, String... args) {
    return Qemu.run(prepend(dir.resolve("bin").resolve(name).toString(), args));
  }

  private static String[] prepend(String first, String[] rest) {
    String[] all = new String[rest.length + 1];
    all[0] = first;
    System.arraycopy(rest, 0, all, 1, rest.length);
    return all;
  }
}
