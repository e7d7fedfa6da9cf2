package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * qemu-img and qemu-nbd --list as NBD clients, side by side with the real tools, against one real
 * qemu-nbd serving a qcow2 chain with -A and -B (the x-dirty-bitmap map of iotests
 * nbd-qemu-allocation and qemu-img-bitmaps).
 */
class NbdClientCommandsTest {
  private static Process server;
  private static Path socket;

  @BeforeAll
  static void serve() throws Exception {
    Path scratch = TestImages.scratch();
    Path base = scratch.resolve("base.qcow2");
    Path top = scratch.resolve("top.qcow2");
    Qemu.createQcow2(base, "4M");
    Qemu.io(base, "qcow2", "write 0 2M");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", "qcow2", top.toString(), "4M");
    Qemu.check("qemu-img", "bitmap", "--add", top.toString(), "b0");
    Qemu.io(top, "qcow2", "write 1M 2M");
    socket = scratch.resolve("client.sock");
    server = new ProcessBuilder("qemu-nbd", "-t", "-e", "16", "-r", "-f", "qcow2", "-A", "-B", "b0", "-k",
        socket.toString(), top.toString()).redirectErrorStream(true).redirectOutput(scratch.resolve("nbd.log").toFile())
        .start();
    for (int wait = 0; wait < 400 && !Files.exists(socket); wait++) {
      Thread.sleep(50);
    }
    assertThat(socket).exists();
  }

  @AfterAll
  static void stop() throws Exception {
    if (server != null) {
      server.destroy();
      server.waitFor(10, TimeUnit.SECONDS);
    }
  }

  private static void sameAsQemu(String program, String... arguments) {
    List<String> theirs = new ArrayList<>(List.of(program));
    theirs.addAll(List.of(arguments));
    Cli.Result expected = Qemu.run(theirs.toArray(String[]::new));
    List<String> ours = new ArrayList<>(List.of(program.equals("qemu-nbd") ? "serve" : arguments[0]));
    ours.addAll(List.of(arguments).subList(program.equals("qemu-nbd") ? 0 : 1, arguments.length));
    Cli.Result actual = Cli.run(ours.toArray(String[]::new));
    assertThat(actual.out()).isEqualTo(expected.out());
    assertThat(actual.err().replace("qcow4j:", program + ":")).isEqualTo(expected.err());
    assertThat(actual.exitCode()).isEqualTo(expected.exitCode());
  }

  @ParameterizedTest
  @ValueSource(strings = {"", ",x-dirty-bitmap=qemu:allocation-depth", ",x-dirty-bitmap=qemu:dirty-bitmap:b0"})
  void mapsAsQemuImgDoes(String option) {
    sameAsQemu("qemu-img", "map", "--output=json", "--image-opts",
        "driver=nbd,server.type=unix,server.path=" + socket + option);
  }

  @Test
  void listsAsQemuNbdDoes() {
    sameAsQemu("qemu-nbd", "-L", "-k", socket.toString());
    sameAsQemu("qemu-nbd", "--list", "-k", socket.toString() + ".missing");
    sameAsQemu("qemu-nbd", "-L", "-k", socket.toString(), "file");
    sameAsQemu("qemu-nbd", "-L", "-x", "name", "-k", socket.toString());
  }

  @Test
  void describesAndRefusesAsQemuImgDoes() {
    sameAsQemu("qemu-img", "info", "nbd+unix:///?socket=" + socket);
    sameAsQemu("qemu-img", "info", "nbd:unix:" + socket + ":exportname=nope");
    sameAsQemu("qemu-img", "info", "json:{\"driver\": \"nbd\", \"host\": -1}");
    sameAsQemu("qemu-img", "info", "nbd://localhost:99999/x");
    sameAsQemu("qemu-img", "map", "--output=json", "--image-opts",
        "driver=nbd,server.type=unix,server.path=" + socket + ",x-dirty-bitmap=qemu:dirty-bitmap:nope");
  }
}
