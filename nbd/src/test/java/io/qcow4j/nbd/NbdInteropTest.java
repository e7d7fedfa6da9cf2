package io.qcow4j.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The server against the real clients: nbdinfo, nbdcopy, qemu-img and qemu-io, over TCP and Unix sockets. */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdInteropTest {
  private static final int SIZE = 8 << 20;
  private static final long SEED = System.nanoTime();

  @TempDir Path dir;
  private Path image;
  private byte[] content;
  private final List<AutoCloseable> resources = new ArrayList<>();

  @BeforeEach
  void createImage() throws IOException {
    System.out.println("seed " + SEED);
    image = dir.resolve("disk.raw");
    content = new byte[SIZE];
    Random random = new Random(SEED);
    byte[] head = new byte[64 << 10];
    random.nextBytes(head);
    System.arraycopy(head, 0, content, 0, head.length);
    Arrays.fill(content, 1 << 20, (1 << 20) + 4096, (byte) 0x42);
    // A sparse file: only the two data ranges are written, the rest stays holes.
    try (FileChannel channel = FileChannel.open(image, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      channel.write(ByteBuffer.wrap(content, 0, head.length), 0);
      channel.write(ByteBuffer.wrap(content, 1 << 20, 4096), 1 << 20);
      channel.truncate(SIZE);
      channel.position(SIZE - 1);
      if (channel.size() < SIZE) {
        channel.write(ByteBuffer.allocate(1), SIZE - 1);
      }
    }
  }

  @AfterEach
  void closeAll() throws Exception {
    for (AutoCloseable resource : resources.reversed()) {
      resource.close();
    }
  }

  /** Serves the image (read-write unless asked) on a Unix socket, or TCP on a free port when socket is null. */
  private NbdServer serve(boolean readOnly, String socketName) throws IOException {
    DiskFile disk = DiskImages.open(image, OpenOptions.readWriteDefaults().withReadOnly(readOnly));
    NbdServer.Builder builder = NbdServer.builder().disk(disk).exportName("disk").description("interop disk")
        .closeDiskOnStop(true);
    if (socketName == null) {
      builder.tcp("127.0.0.1", 0);
    } else {
      builder.unixSocket(dir.resolve(socketName));
    }
    NbdServer server = builder.start();
    resources.add(server);
    return server;
  }

  private byte[] imageBytes() throws IOException {
    return Files.readAllBytes(image);
  }

  @Test
  void nbdinfoShowsSizeListAndHoles() throws Exception {
    NbdServer server = serve(false, "info.sock");
    assertThat(Tool.run("nbdinfo", "--size", server.uri()).assertSuccess().out().strip())
        .isEqualTo(String.valueOf(SIZE));
    String list = Tool.run("nbdinfo", "--list", server.uri()).assertSuccess().out();
    assertThat(list).contains("export=\"disk\"").contains("interop disk").contains("base:allocation");

    String map = Tool.run("nbdinfo", "--map", server.uri()).assertSuccess().out();
    List<long[]> extents = new ArrayList<>();
    Matcher line = Pattern.compile("(?m)^\\s*(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\S+)").matcher(map);
    while (line.find()) {
      extents.add(new long[] {Long.parseLong(line.group(1)), Long.parseLong(line.group(2)),
          Long.parseLong(line.group(3))});
    }
    assertThat(extents).as(map).isNotEmpty();
    assertThat(extents.stream().mapToLong(extent -> extent[1]).sum()).isEqualTo(SIZE);
    assertThat(map).contains("hole,zero").contains("data");
    for (long[] extent : extents) {
      boolean hole = extent[2] == 3;
      long start = extent[0];
      long end = start + extent[1];
      boolean coversData = start < (64 << 10) || (start < (1 << 20) + 4096 && end > (1 << 20));
      if (hole) {
        assertThat(coversData).as("hole %d+%d over data\n%s", start, extent[1], map).isFalse();
      }
    }
    assertThat(extents.stream().filter(extent -> extent[2] == 3).mapToLong(extent -> extent[1]).sum())
        .as("most of the image is holes").isGreaterThan(SIZE - (2 << 20));
  }

  @Test
  void nbdcopyCopiesOutOfAndIntoTheExport() throws Exception {
    for (String socket : new String[] {"copy.sock", null}) {
      NbdServer server = serve(false, socket);
      Path copy = dir.resolve("copy.raw");
      Files.deleteIfExists(copy);
      Tool.run("nbdcopy", server.uri(), copy.toString()).assertSuccess();
      assertThat(Files.readAllBytes(copy)).isEqualTo(content);

      byte[] source = new byte[SIZE];
      new Random(SEED + 1).nextBytes(source);
      Arrays.fill(source, 2 << 20, 4 << 20, (byte) 0);
      Path sourceFile = dir.resolve("source.raw");
      Files.write(sourceFile, source);
      Tool.run("nbdcopy", sourceFile.toString(), server.uri()).assertSuccess();
      server.close();
      assertThat(imageBytes()).isEqualTo(source);
      Files.write(image, content);
    }
  }

  @Test
  void qemuImgConvertsFromUnixAndTcpExports() throws Exception {
    NbdServer unix = serve(true, "convert.sock");
    Path fromUnix = dir.resolve("unix.raw");
    Tool.run("qemu-img", "convert", "-f", "raw", "-O", "raw", unix.uri(), fromUnix.toString()).assertSuccess();
    assertThat(Files.readAllBytes(fromUnix)).isEqualTo(content);

    NbdServer tcp = serve(true, null);
    assertThat(tcp.uri()).startsWith("nbd://127.0.0.1:");
    Path fromTcp = dir.resolve("tcp.qcow2");
    Tool.run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", tcp.uri(), fromTcp.toString()).assertSuccess();
    Tool.run("qemu-img", "compare", "-f", "qcow2", "-F", "raw", fromTcp.toString(), image.toString()).assertSuccess();
    String map = Tool.run("qemu-img", "map", "-f", "raw", "--output=json", tcp.uri()).assertSuccess().out();
    assertThat(map).contains("\"zero\": true").contains("\"data\": true");
  }

  @Test
  void qemuIoReadsWritesZeroesDiscardsAndFlushes() throws Exception {
    for (String socket : new String[] {"io.sock", null}) {
      NbdServer server = serve(false, socket);
      Tool.Result result = Tool.run("qemu-io", "-f", "raw", server.uri(),
          "-c", "write -P 0xab 0 64k",
          "-c", "read -P 0xab 0 64k",
          "-c", "write -z 1M 4k",
          "-c", "read -P 0 1M 4k",
          "-c", "write -P 0xcd 2M 1000",
          "-c", "discard 64k 64k",
          "-c", "flush",
          "-c", "read -P 0xcd 2M 1000").assertSuccess();
      assertThat(result.all()).doesNotContain("Pattern verification failed").doesNotContain("error");
      server.close();
      byte[] after = imageBytes();
      assertThat(Arrays.copyOfRange(after, 0, 64 << 10)).containsOnly((byte) 0xab);
      assertThat(Arrays.copyOfRange(after, 1 << 20, (1 << 20) + 4096)).containsOnly(0);
      assertThat(Arrays.copyOfRange(after, 2 << 20, (2 << 20) + 1000)).containsOnly((byte) 0xcd);
      assertThat(Arrays.copyOfRange(after, (2 << 20) + 1000, SIZE))
          .isEqualTo(Arrays.copyOfRange(content, (2 << 20) + 1000, SIZE));
      Files.write(image, content);
    }
  }

  @Test
  void aReadOnlyExportRefusesWritesAndLeavesTheFileAlone() throws Exception {
    NbdServer server = serve(true, "ro.sock");
    Tool.Result write = Tool.run("qemu-io", "-f", "raw", server.uri(), "-c", "write -P 0x11 0 4k");
    assertThat(write.exitCode() != 0 || write.all().contains("ermission") || write.all().contains("read-only")
        || write.all().contains("read only")).as(write.all()).isTrue();
    Tool.Result readOnlyIo = Tool.run("qemu-io", "-r", "-f", "raw", server.uri(), "-c", "write -P 0x11 0 4k");
    assertThat(readOnlyIo.all()).containsAnyOf("ermission", "read-only", "read only");
    Path source = dir.resolve("junk.raw");
    Files.write(source, new byte[SIZE]);
    assertThat(Tool.run("nbdcopy", source.toString(), server.uri()).exitCode()).isNotZero();
    assertThat(Tool.run("qemu-io", "-r", "-f", "raw", server.uri(), "-c", "read -P 0x42 1M 4k")
        .assertSuccess().all()).doesNotContain("Pattern verification failed");
    server.close();
    assertThat(imageBytes()).isEqualTo(content);
  }

  @Test
  void severalClientsAtOnceReadTheSameBytes() throws Exception {
    NbdServer server = serve(false, null);
    List<Process> processes = new ArrayList<>();
    List<Path> outputs = new ArrayList<>();
    Tool.require("qemu-img");
    Tool.require("nbdcopy");
    for (int i = 0; i < 4; i++) {
      Path output = dir.resolve("client" + i + ".raw");
      outputs.add(output);
      List<String> command = i % 2 == 0
          ? List.of("qemu-img", "convert", "-f", "raw", "-O", "raw", server.uri(), output.toString())
          : List.of("nbdcopy", server.uri(), output.toString());
      processes.add(new ProcessBuilder(command).redirectErrorStream(true)
          .redirectOutput(dir.resolve("client" + i + ".log").toFile()).start());
    }
    for (int i = 0; i < processes.size(); i++) {
      Process process = processes.get(i);
      assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
      assertThat(process.exitValue()).as(Files.readString(dir.resolve("client" + i + ".log"))).isZero();
      assertThat(Files.readAllBytes(outputs.get(i))).isEqualTo(content);
    }
  }

  @Test
  void garbageAndTruncatedHandshakesDoNotStopTheServer() throws Exception {
    NbdServer server = serve(false, null);
    InetSocketAddress address = (InetSocketAddress) server.address();
    Random random = new Random(SEED);
    for (int i = 0; i < 20; i++) {
      try (Socket socket = new Socket(address.getAddress(), address.getPort())) {
        socket.setSoTimeout(5000);
        OutputStream out = socket.getOutputStream();
        switch (i % 4) {
          case 0 -> {
            // Four bytes or more: random client flags are refused at once.
            byte[] garbage = new byte[4 + random.nextInt(300)];
            random.nextBytes(garbage);
            out.write(garbage);
            socket.getInputStream().readAllBytes();
          }
          case 1 -> out.write(new byte[] {0, 0});
          case 2 -> {
            socket.getInputStream().readNBytes(18);
            out.write(new byte[] {0, 0, 0, 3, 'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T', 0, 0, 0, 7, 0, 0, 1});
          }
          default -> {
            // Connect and hang up without a word.
          }
        }
      }
    }
    assertThat(Tool.run("nbdinfo", "--size", server.uri()).assertSuccess().out().strip())
        .isEqualTo(String.valueOf(SIZE));
    Path copy = dir.resolve("after.raw");
    Tool.run("qemu-img", "convert", "-f", "raw", "-O", "raw", server.uri(), copy.toString()).assertSuccess();
    assertThat(Files.readAllBytes(copy)).isEqualTo(content);
  }

  @Test
  void sigtermFlushesAndStopsTheServer() throws Exception {
    Path socket = dir.resolve("term.sock");
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    Process server = new ProcessBuilder(java.toString(), "--enable-native-access=ALL-UNNAMED",
        "-cp", System.getProperty("java.class.path"), ServeMain.class.getName(), socket.toString(), image.toString())
        .redirectErrorStream(true).redirectOutput(dir.resolve("serve.log").toFile()).start();
    try {
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (!Files.exists(socket) && System.nanoTime() < deadline && server.isAlive()) {
        Thread.sleep(50);
      }
      assertThat(Files.exists(socket)).as(Files.readString(dir.resolve("serve.log"))).isTrue();
      String uri = "nbd+unix:///?socket=" + socket;
      Tool.run("qemu-io", "-f", "raw", uri, "-c", "write -P 0x77 3M 64k").assertSuccess();
      server.destroy();
      assertThat(server.waitFor(20, TimeUnit.SECONDS)).isTrue();
      assertThat(Files.exists(socket)).isFalse();
      assertThat(Files.readString(dir.resolve("serve.log"))).contains("closed disk");
      byte[] after = imageBytes();
      assertThat(Arrays.copyOfRange(after, 3 << 20, (3 << 20) + (64 << 10))).containsOnly((byte) 0x77);
    } finally {
      server.destroyForcibly();
    }
  }
}
