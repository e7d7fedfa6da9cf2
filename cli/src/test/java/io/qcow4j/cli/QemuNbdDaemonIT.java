package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/qcow4j as qemu-nbd (through a link of that name) with --fork, --pid-file and --discard, as
 * QEMU's iotests start it: the parent returns once the server listens, the pid file names the
 * daemon, failures come back through the parent with qemu-nbd's words and status.
 */
class QemuNbdDaemonIT {
  @TempDir Path dir;
  private Path qemuNbd;
  private Path image;
  private final List<Long> started = new ArrayList<>();

  @BeforeEach
  void link() throws Exception {
    Path tool = Path.of("..", "bin", "qcow4j").toAbsolutePath().normalize();
    Files.createDirectories(dir.resolve("bin"));
    qemuNbd = Files.createSymbolicLink(dir.resolve("bin").resolve("qemu-nbd"), tool);
    image = dir.resolve("image.qcow2");
    Qemu.createQcow2(image, "1M");
    Qemu.io(image, "qcow2", "write -P 7 0 64k");
  }

  @AfterEach
  void stop() throws Exception {
    for (long pid : started) {
      ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    }
    Files.deleteIfExists(qemuNbd);
  }

  @Test
  void forkReturnsOnceListeningAndThePidFileNamesTheDaemon() throws Exception {
    Path socket = dir.resolve("s");
    Path pidFile = dir.resolve("nbd.pid");
    Cli.Result fork = Qemu.run(qemuNbd.toString(), "--fork", "--pid-file=" + pidFile, "-t", "-f", "qcow2",
        "-k", socket.toString(), image.toString());
    assertThat(fork.exitCode()).as(fork.err()).isZero();
    assertThat(fork.out()).isEmpty();
    assertThat(fork.err()).isEmpty();
    String pidText = Files.readString(pidFile);
    assertThat(pidText).matches("\\d+\n");
    long pid = Long.parseLong(pidText.strip());
    started.add(pid);
    assertThat(ProcessHandle.of(pid)).as("the daemon runs").isPresent();
    // listening already: no wait before the first client
    String read = Qemu.check("qemu-io", "-r", "-f", "raw", "-c", "read -P 7 0 64k", "nbd+unix:///?socket=" + socket);
    assertThat(read).startsWith("read 65536/65536 bytes at offset 0\n");
    // -t: still there for the next client, until killed
    Qemu.check("qemu-io", "-r", "-f", "raw", "-c", "read -P 0 64k 64k", "nbd+unix:///?socket=" + socket);
    ProcessHandle daemon = ProcessHandle.of(pid).orElseThrow();
    daemon.destroy();
    daemon.onExit().get();
    assertThat(socket).as("the socket is removed on exit").doesNotExist();
  }

  @Test
  void failuresComeBackThroughTheParentAsQemuNbdsDo() throws Exception {
    Files.writeString(dir.resolve("short"), "abc");
    for (List<String> args : List.of(
        List.of("--fork", "-k", dir.resolve("s1").toString(), "-f", "qcow2", dir.resolve("missing").toString()),
        List.of("--fork", "--pid-file", dir.resolve("no/such/dir/pid").toString(), "-k", dir.resolve("s2").toString(),
            "-r", image.toString()),
        List.of("-k", dir.resolve("no/such/dir/sock").toString(), image.toString()))) {
      Cli.Result ours = Qemu.run(prepend(qemuNbd.toString(), args));
      Cli.Result theirs = Qemu.run(prepend("qemu-nbd", args));
      assertThat(ours.exitCode()).as(String.join(" ", args)).isEqualTo(theirs.exitCode()).isEqualTo(1);
      assertThat(ours.err()).as(String.join(" ", args)).isEqualTo(theirs.err());
    }
  }

  @Test
  void discardIsIgnoredUnlessUnmapIsAsked() throws Exception {
    assertThat(allocatedAfterTrim()).as("qemu-nbd's default ignores trims").isTrue();
    assertThat(allocatedAfterTrim("--discard=unmap")).as("--discard=unmap frees the clusters").isFalse();
    assertThat(allocatedAfterTrim("--discard=ignore")).isTrue();
  }

  /** Serves the image, trims its first 64 KiB through the server, says whether they are still allocated. */
  private boolean allocatedAfterTrim(String... options) throws Exception {
    Qemu.io(image, "qcow2", "write -P 7 0 64k");
    Path socket = dir.resolve("t");
    Path pidFile = dir.resolve("t.pid");
    List<String> args = new ArrayList<>(List.of(qemuNbd.toString(), "--fork", "--pid-file", pidFile.toString(),
        "-f", "qcow2", "-k", socket.toString()));
    args.addAll(List.of(options));
    args.add(image.toString());
    Qemu.check(args.toArray(String[]::new));
    started.add(Long.parseLong(Files.readString(pidFile).strip()));
    String trim = Qemu.check("qemu-io", "-f", "raw", "-c", "discard 0 64k", "nbd+unix:///?socket=" + socket);
    assertThat(trim).startsWith("discard 65536/65536 bytes at offset 0\n");
    // without -t the server leaves with its last client, releasing the image
    ProcessHandle.of(started.getLast()).ifPresent(server -> server.onExit().join());
    String map = Qemu.check("qemu-img", "map", "--output=json", "-f", "qcow2", image.toString());
    return map.lines().findFirst().orElseThrow().contains("\"data\": true");
  }

  private static String[] prepend(String first, List<String> rest) {
    List<String> all = new ArrayList<>();
    all.add(first);
    all.addAll(rest);
    return all.toArray(String[]::new);
  }
}
