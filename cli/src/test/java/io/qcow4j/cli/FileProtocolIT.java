package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * "file:NAME" names the file NAME as QEMU's file protocol reads it (iotest 126): create makes NAME,
 * and an image opened so is called "./NAME" when NAME has a colon before any slash, its relative
 * backing file resolved from there ("actual path: ./base").
 */
class FileProtocolIT {
  @Test
  void fileProtocolPrefixAsQemuImg() throws Exception {
    Path dir = Files.createTempDirectory(TestImages.scratch(), "file-protocol");
    Path ours = Files.createDirectory(dir.resolve("ours"));
    Path theirs = Files.createDirectory(dir.resolve("theirs"));
    for (Path each : new Path[] {ours, theirs}) {
      Qemu.createQcow2(each.resolve("base.qcow2"), "64M");
    }
    // relative names: the tools run in the directory (as the iotest does with pushd)
    Cli.Result created = run(ours, "create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "file:image:top.qcow2");
    Qemu.check(qemu(theirs, "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 file:image:top.qcow2"));
    assertThat(created.exitCode()).as(created.err()).isZero();
    assertThat(ours.resolve("image:top.qcow2")).exists();
    assertThat(ours.resolve("file:image:top.qcow2")).doesNotExist();

    Cli.Result info = run(ours, "info", "file:image:top.qcow2");
    String expected = Qemu.check(qemu(theirs, "qemu-img info file:image:top.qcow2"));
    assertThat(info.out().replaceAll("disk size: .*", "")).isEqualTo(expected.replaceAll("disk size: .*", ""));
    assertThat(info.out()).startsWith("image: ./image:top.qcow2\n").contains("backing file: base.qcow2 (actual path: ./base.qcow2)");

    for (String missing : new String[] {"file:nonexistent.qcow2", "file:a:b.qcow2"}) {
      Cli.Result ourError = run(ours, "info", missing);
      Cli.Result theirError = Qemu.run(qemu(theirs, "qemu-img info " + missing));
      assertThat(ourError.err()).isEqualTo(theirError.err().replace("qemu-img: ", "qcow4j: "));
    }
  }

  /** Runs qcow4j in-process as if from {@code dir}: the relative names made absolute the way the tools would not see. */
  private static Cli.Result run(Path dir, String... args) throws Exception {
    // the in-process tool cannot change directory: run the real program there instead
    String[] command = new String[args.length + 1];
    command[0] = Path.of("..", "bin", "qcow4j").toAbsolutePath().normalize().toString();
    System.arraycopy(args, 0, command, 1, args.length);
    ProcessBuilder builder = new ProcessBuilder(command).directory(dir.toFile());
    return exec(builder);
  }

  private static String[] qemu(Path dir, String command) {
    return new String[] {"sh", "-c", "cd '" + dir + "' && " + command};
  }

  private static Cli.Result exec(ProcessBuilder builder) throws Exception {
    Process process = builder.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
    java.util.concurrent.CompletableFuture<String> err = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
      try {
        return new String(process.getErrorStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    String out = new String(process.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    return new Cli.Result(process.waitFor(), out, err.join());
  }
}
