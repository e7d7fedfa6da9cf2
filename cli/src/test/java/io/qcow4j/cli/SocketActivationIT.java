package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/qcow4j as qemu-nbd (through a link of that name) started by libnbd's tools with systemd
 * socket activation (nbdinfo, nbdcopy: LISTEN_PID, LISTEN_FDS=1, the listening socket at
 * descriptor 3), side by side with the real qemu-nbd: the same answers, the same refusals.
 */
class SocketActivationIT {
  @TempDir Path dir;
  private Path qemuNbd;
  private Path image;

  @BeforeEach
  void link() throws Exception {
    Path tool = Path.of("..", "bin", "qcow4j").toAbsolutePath().normalize();
    Files.createDirectories(dir.resolve("bin"));
    qemuNbd = Files.createSymbolicLink(dir.resolve("bin").resolve("qemu-nbd"), tool);
    image = dir.resolve("image.qcow2");
    Qemu.createQcow2(image, "64M");
    Qemu.io(image, "qcow2", "write -P 0xab 1M 2M", "write -z 10M 1M", "write -P 7 40M 64k");
  }

  @Test
  void nbdinfoMapAndInfoAsWithQemuNbd() {
    for (String option : new String[] {"--map", "--size", "--json"}) {
      Cli.Result ours = Qemu.run("nbdinfo", option, "--", "[", qemuNbd.toString(), "-f", "qcow2", image.toString(), "]");
      Cli.Result theirs = Qemu.run("nbdinfo", option, "--", "[", "qemu-nbd", "-f", "qcow2", image.toString(), "]");
      assertThat(theirs.exitCode()).as(theirs.err()).isZero();
      assertThat(ours.exitCode()).as(ours.err()).isZero();
      assertThat(ours.out()).as(option).isEqualTo(theirs.out());
    }
    Cli.Result ours = Qemu.run("nbdinfo", "--", "[", qemuNbd.toString(), "-f", "qcow2", image.toString(), "]");
    Cli.Result theirs = Qemu.run("nbdinfo", "--", "[", "qemu-nbd", "-f", "qcow2", image.toString(), "]");
    assertThat(ours.exitCode()).as(ours.err()).isZero();
    assertThat(ours.out()).isEqualTo(theirs.out()).contains("export-size: 67108864");
    // a TCP address in the URI names the socket: nbdinfo's uri line says unix for both
    assertThat(ours.err()).isEmpty();
  }

  @Test
  void forkPersistentAndSharedOnTheActivatedSocket() throws Exception {
    // --fork: the parent returns once the child serves on the socket it was handed; -t and -e as
    // on a bound socket (libnbd stops the server it started when it closes; a --fork daemon ends
    // when its last client leaves, a moment later: each server has an image of its own)
    String[][] cases = {{"--fork"}, {"-t", "-e", "2"}};
    int copies = 0;
    for (String[] options : cases) {
      java.util.List<String> ours = new java.util.ArrayList<>(java.util.List.of("nbdinfo", "--map", "--", "[", qemuNbd.toString()));
      java.util.List<String> theirs = new java.util.ArrayList<>(java.util.List.of("nbdinfo", "--map", "--", "[", "qemu-nbd"));
      for (java.util.List<String> command : java.util.List.of(ours, theirs)) {
        Path copy = Files.copy(image, dir.resolve("copy" + copies++ + ".qcow2"));
        command.addAll(java.util.List.of(options));
        command.addAll(java.util.List.of("-f", "qcow2", copy.toString(), "]"));
      }
      Cli.Result theirResult = Qemu.run(theirs.toArray(String[]::new));
      Cli.Result ourResult = Qemu.run(ours.toArray(String[]::new));
      assertThat(theirResult.exitCode()).as(theirResult.err()).isZero();
      assertThat(ourResult.exitCode()).as(ourResult.err()).isZero();
      assertThat(ourResult.out()).as(String.join(" ", options)).isEqualTo(theirResult.out()).contains("data");
    }
  }

  @Test
  void aTcpSocketFromSystemdSocketActivate() throws Exception {
    // systemd-socket-activate listens, and at the first connection execs the server with the
    // listening TCP socket at descriptor 3; the server ends when that client leaves
    String expected = null;
    for (String server : new String[] {"qemu-nbd", qemuNbd.toString()}) {
      int port;
      try (java.net.ServerSocket free = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
        port = free.getLocalPort();
      }
      Process activator = new ProcessBuilder("systemd-socket-activate", "-l", "127.0.0.1:" + port, server, "-f", "qcow2",
          image.toString()).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      try {
        java.io.BufferedReader err = new java.io.BufferedReader(
            new java.io.InputStreamReader(activator.getErrorStream(), java.nio.charset.StandardCharsets.UTF_8));
        String line = err.readLine();
        assertThat(line).as("systemd-socket-activate listens").startsWith("Listening on 127.0.0.1:" + port);
        Thread.ofVirtual().start(() -> {
          try {
            err.transferTo(java.io.Writer.nullWriter());
          } catch (java.io.IOException e) {
            // the process ended
          }
        });
        Cli.Result map = Qemu.run("nbdinfo", "--map", "nbd://127.0.0.1:" + port);
        assertThat(map.exitCode()).as(server + ": " + map.err()).isZero();
        if (expected == null) {
          expected = map.out();
        } else {
          assertThat(map.out()).isEqualTo(expected).contains("data");
        }
        assertThat(activator.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)).as(server + " ends").isTrue();
        assertThat(activator.exitValue()).isZero();
      } finally {
        activator.destroyForcibly();
      }
    }
  }

  @Test
  void nbdcopyFromTheServerGivesTheImagesBytes() {
    Path out = dir.resolve("out.raw");
    Qemu.check("nbdcopy", "--", "[", qemuNbd.toString(), "-f", "qcow2", "-r", image.toString(), "]", out.toString());
    assertThat(Qemu.run("qemu-img", "compare", "-f", "qcow2", "-F", "raw", image.toString(), out.toString())
        .exitCode()).isZero();
  }

  @Test
  void nbdcopyIntoAWritableServer() {
    Path source = dir.resolve("source.raw");
    Qemu.check("qemu-img", "create", "-q", "-f", "raw", source.toString(), "64M");
    Qemu.io(source, "raw", "write -P 0x5a 0 3M", "write -P 0x11 50M 128k");
    Path target = dir.resolve("target.qcow2");
    Qemu.createQcow2(target, "64M");
    Qemu.check("nbdcopy", source.toString(), "--", "[", qemuNbd.toString(), "-f", "qcow2", target.toString(), "]");
    Cli.Result compare = Qemu.run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", source.toString(), target.toString());
    assertThat(compare.exitCode()).as(compare.out() + compare.err()).isZero();
    assertThat(Qemu.run("qemu-img", "check", target.toString()).exitCode()).isZero();
  }

  @Test
  void optionsNamingAnotherPlaceAreRefusedAsQemuNbdRefusesThem() {
    String[][] cases = {
        {"-k", dir.resolve("s").toString(), "-f", "qcow2", image.toString()},
        {"-p", "10999", "-f", "qcow2", image.toString()},
        {"-b", "127.0.0.1", "-f", "qcow2", image.toString()},
        {"-L"},
        {"-c", "/dev/nbd0", "-f", "qcow2", image.toString()},
        {"--selinux-label=x", "-f", "qcow2", image.toString()},
    };
    for (String[] arguments : cases) {
      Cli.Result ours = activated("", qemuNbd.toString(), arguments);
      Cli.Result theirs = activated("", "qemu-nbd", arguments);
      assertThat(theirs.exitCode()).isEqualTo(1);
      assertThat(theirs.err()).contains("socket activation");
      assertThat(ours.exitCode()).as(ours.err()).isEqualTo(theirs.exitCode());
      assertThat(ours.err()).isEqualTo(theirs.err());
    }
  }

  @Test
  void moreThanOneSocketOrNoSocketAreRefusedAsQemuNbdRefusesThem() {
    String[] arguments = {"-f", "qcow2", image.toString()};
    for (String fds : new String[] {"2", "1"}) {
      // LISTEN_FDS=2 with two open descriptors; LISTEN_FDS=1 with a file, not a socket, at 3
      Cli.Result ours = activated(fds, qemuNbd.toString(), arguments);
      Cli.Result theirs = activated(fds, "qemu-nbd", arguments);
      assertThat(theirs.exitCode()).as(theirs.err()).isEqualTo(1);
      assertThat(ours.exitCode()).as(ours.err()).isEqualTo(1);
      assertThat(ours.err()).isEqualTo(theirs.err());
    }
    assertThat(activated("2", qemuNbd.toString(), arguments).err())
        .isEqualTo("qemu-nbd: qemu-nbd does not support socket activation with LISTEN_FDS > 1\n");
    // LISTEN_PID naming another process: no activation, the server listens as usual, on -k
    Path socket = dir.resolve("t");
    Cli.Result other = Qemu.run("sh", "-c", "LISTEN_PID=1 LISTEN_FDS=1 exec \"$0\" -k \"$1\" -f qcow2 \"$2\" & "
        + "for i in $(seq 300); do [ -S \"$1\" ] && break; sleep 0.1; done; nbdinfo --size \"nbd+unix:///?socket=$1\"",
        qemuNbd.toString(), socket.toString(), image.toString());
    assertThat(other.exitCode()).as(other.err()).isZero();
    assertThat(other.out()).isEqualTo("67108864\n");
  }

  /**
   * The server started as a socket-activating caller starts it: by nbdinfo when {@code fds} is
   * empty, else by a shell that sets LISTEN_PID to its own id and LISTEN_FDS to {@code fds} and
   * execs the server with /dev/null at descriptors 3 and 4.
   */
  private Cli.Result activated(String fds, String server, String... arguments) {
    java.util.List<String> command = new java.util.ArrayList<>();
    if (fds.isEmpty()) {
      command.addAll(java.util.List.of("nbdinfo", "--", "[", server));
      command.addAll(java.util.List.of(arguments));
      command.add("]");
    } else {
      command.addAll(java.util.List.of("sh", "-c", "exec 3</dev/null 4</dev/null; LISTEN_PID=$$ LISTEN_FDS=" + fds
          + " exec \"$@\"", "sh", server));
      command.addAll(java.util.List.of(arguments));
    }
    Cli.Result result = Qemu.run(command.toArray(String[]::new));
    if (fds.isEmpty()) {
      // nbdinfo's own line after the server's: the server's refusal is what is compared
      String err = result.err();
      int nbdinfo = err.indexOf("nbdinfo:");
      return new Cli.Result(result.exitCode(), result.out(), nbdinfo < 0 ? err : err.substring(0, nbdinfo));
    }
    return result;
  }
}
