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
  private static Process qcow2Server;
  private static Path socket;
  /** A qcow2 image exported as raw bytes: the client probes qcow2 over the export. */
  private static Path qcow2Socket;

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
    Path image = scratch.resolve("exported.qcow2");
    Qemu.createQcow2(image, "2M");
    Qemu.io(image, "qcow2", "write -P 7 64k 64k");
    qcow2Socket = scratch.resolve("qcow2.sock");
    qcow2Server = new ProcessBuilder("qemu-nbd", "-t", "-e", "16", "-f", "raw", "-k", qcow2Socket.toString(),
        image.toString()).redirectErrorStream(true).redirectOutput(scratch.resolve("nbd2.log").toFile()).start();
    for (int wait = 0; wait < 400 && !Files.exists(qcow2Socket); wait++) {
      Thread.sleep(50);
    }
    assertThat(qcow2Socket).exists();
  }

  @AfterAll
  static void stop() throws Exception {
    for (Process process : new Process[] {server, qcow2Server}) {
      if (process != null) {
        process.destroy();
        process.waitFor(10, TimeUnit.SECONDS);
      }
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
    sameAsQemu("qemu-img", "map", "-f", "raw", "nbd:unix:" + socket);
    sameAsQemu("qemu-img", "info", "nbd+unix:///?socket=" + socket);
    sameAsQemu("qemu-img", "info", "nbd:unix:" + socket + ":exportname=nope");
    sameAsQemu("qemu-img", "info", "json:{\"driver\": \"nbd\", \"host\": -1}");
    sameAsQemu("qemu-img", "info", "nbd://localhost:99999/x");
    sameAsQemu("qemu-img", "map", "--output=json", "--image-opts",
        "driver=nbd,server.type=unix,server.path=" + socket + ",x-dirty-bitmap=qemu:dirty-bitmap:nope");
  }

  @Test
  void readsAQcow2ImageOverAnExport() {
    sameAsQemu("qemu-img", "info", "nbd:unix:" + qcow2Socket);
    sameAsQemu("qemu-img", "map", "--output=json", "nbd+unix:///?socket=" + qcow2Socket);
    sameAsQemu("qemu-img", "map", "nbd+unix:///?socket=" + qcow2Socket);
    // a cluster allocated past the end of the export: QEMU's block layer says EINVAL
    Cli.Result theirs = Qemu.run("qemu-io", "-c", "write 0 4k", "nbd:unix:" + qcow2Socket);
    Cli.Result ours = Cli.run("io", "-c", "write 0 4k", "nbd:unix:" + qcow2Socket);
    assertThat(theirs.out() + theirs.err()).contains("write failed: Invalid argument");
    assertThat(ours.out() + ours.err()).contains("write failed: Invalid argument");
  }

  @Test
  void legacyHostAndPortReachATcpServer() throws Exception {
    Path image = TestImages.scratch().resolve("tcp.raw");
    Qemu.check("qemu-img", "create", "-q", "-f", "raw", image.toString(), "1M");
    try (io.qcow4j.nbd.NbdServer tcp = io.qcow4j.nbd.NbdServer.builder()
        .disk(io.qcow4j.DiskImages.open(image, io.qcow4j.disk.OpenOptions.readOnlyDefaults()))
        .readOnly(true).closeDiskOnStop(true).tcp("127.0.0.1", 0).start()) {
      String spec = "json:{'driver': 'nbd', 'host': '127.0.0.1', 'port': " + tcp.port() + "}";
      sameAsQemu("qemu-img", "map", "--output=json", spec);
      Cli.Result ours = Cli.run("info", spec);
      assertThat(ours.out()).startsWith("image: nbd://127.0.0.1:" + tcp.port() + "\n");
    }
  }

  @Test
  void aServerThatRequiresTlsIsRefusedWithQemusHint() throws Exception {
    Path scratch = TestImages.scratch();
    Path image = scratch.resolve("tls.raw");
    Qemu.check("qemu-img", "create", "-q", "-f", "raw", image.toString(), "1M");
    Path tlsSocket = scratch.resolve("tls.sock");
    Process tls = new ProcessBuilder("qemu-nbd", "-t", "-e", "16", "--object",
        "tls-creds-anon,id=tls0,endpoint=server", "--tls-creds", "tls0", "-f", "raw", "-k", tlsSocket.toString(),
        image.toString()).redirectErrorStream(true).redirectOutput(scratch.resolve("tls.log").toFile()).start();
    try {
      for (int wait = 0; wait < 400 && !Files.exists(tlsSocket); wait++) {
        Thread.sleep(50);
      }
      sameAsQemu("qemu-img", "info", "nbd:unix:" + tlsSocket);
      sameAsQemu("qemu-nbd", "-L", "-k", tlsSocket.toString());
    } finally {
      tls.destroy();
      tls.waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void createsConvertsAndResizesOnAnExportAsQemuImgDoes() throws Exception {
    Path scratch = TestImages.scratch();
    Path image = scratch.resolve("target.raw");
    Qemu.check("qemu-img", "create", "-q", "-f", "raw", image.toString(), "4M");
    Path source = scratch.resolve("source.raw");
    Qemu.check("qemu-img", "create", "-q", "-f", "raw", source.toString(), "4M");
    Qemu.io(source, "raw", "write -P 5 1M 1M");
    Path targetSocket = scratch.resolve("target.sock");
    Process target = new ProcessBuilder("qemu-nbd", "-t", "-e", "16", "-f", "raw", "-k", targetSocket.toString(),
        image.toString()).redirectErrorStream(true).redirectOutput(scratch.resolve("target.log").toFile()).start();
    try {
      for (int wait = 0; wait < 400 && !Files.exists(targetSocket); wait++) {
        Thread.sleep(50);
      }
      String name = "nbd:unix:" + targetSocket;
      sameAsQemu("qemu-img", "create", "-f", "raw", name, "8M");
      sameAsQemu("qemu-img", "create", "-f", "raw", "-o", "preallocation=full", name, "1M");
      sameAsQemu("qemu-img", "create", "-f", "raw", name + ".missing", "1M");
      sameAsQemu("qemu-img", "resize", "-f", "raw", name, "8M");
      sameAsQemu("qemu-img", "resize", "-f", "raw", name, "4M");
      for (String format : new String[] {"raw", "qcow2"}) {
        Cli.Result converted = Cli.run("convert", "-f", "raw", "-O", format, source.toString(), name);
        assertThat(converted.exitCode()).as(converted.err()).isZero();
        assertThat(Qemu.run("qemu-img", "compare", "-f", "raw", source.toString(), name).exitCode()).isZero();
        assertThat(Qemu.check("qemu-img", "info", name)).contains("file format: " + format);
      }
      sameAsQemu("qemu-img", "create", "-q", "-f", "qcow2", name, "1M");
      assertThat(Qemu.check("qemu-img", "check", name)).contains("No errors were found on the image.");
    } finally {
      target.destroy();
      target.waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void describesAnExportAsQemuIoAndQemuImgJsonDo() {
    sameAsQemu("qemu-img", "info", "--output=json", "nbd+unix:///?socket=" + socket);
    sameAsQemu("qemu-img", "info", "--output=json", "json:{\"driver\": \"nbd\", \"path\": \"" + socket + "\"}");
    for (String[] arguments : new String[][] {
        {"-r", "-c", "info", "nbd:unix:" + socket},
        {"-r", "-c", "info", "--image-opts", "driver=nbd,server.type=unix,server.path=" + socket}}) {
      List<String> theirs = new ArrayList<>(List.of("qemu-io"));
      theirs.addAll(List.of(arguments));
      Cli.Result expected = Qemu.run(theirs.toArray(String[]::new));
      List<String> ours = new ArrayList<>(List.of("io"));
      ours.addAll(List.of(arguments));
      Cli.Result actual = Cli.run(ours.toArray(String[]::new));
      assertThat(actual.out()).isEqualTo(expected.out());
      assertThat(actual.exitCode()).isEqualTo(expected.exitCode());
    }
  }

  @Test
  void warnsOfAProbedRawExportByItsNodeName() throws Exception {
    Path scratch = TestImages.scratch();
    Path image = scratch.resolve("probed.raw");
    Qemu.check("qemu-img", "create", "-q", "-f", "raw", image.toString(), "1M");
    Path probedSocket = scratch.resolve("probed.sock");
    Process probed = new ProcessBuilder("qemu-nbd", "-t", "-e", "16", "-f", "raw", "-k", probedSocket.toString(),
        image.toString()).redirectErrorStream(true).redirectOutput(scratch.resolve("probed.log").toFile()).start();
    try {
      for (int wait = 0; wait < 400 && !Files.exists(probedSocket); wait++) {
        Thread.sleep(50);
      }
      Cli.Result theirs = Qemu.run("qemu-io", "-c", "write -P 1 512 512", "nbd:unix:" + probedSocket);
      Cli.Result ours = Cli.run("io", "-c", "write -P 1 512 512", "nbd:unix:" + probedSocket);
      assertThat(theirs.err()).contains("WARNING: Image format was not specified for 'nbd+unix://?socket=");
      assertThat(ours.err().replace("qcow4j:", "qemu-io:")).isEqualTo(theirs.err());
    } finally {
      probed.destroy();
      probed.waitFor(10, TimeUnit.SECONDS);
    }
  }
}
