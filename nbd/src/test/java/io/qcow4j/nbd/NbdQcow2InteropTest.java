package io.qcow4j.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** qcow2 images (and a backing chain) served to the real clients, checked by qemu-img after the server stops. */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdQcow2InteropTest {
  private static final int SIZE = 16 << 20;
  private static final long SEED = System.nanoTime();

  @TempDir Path dir;
  private final List<AutoCloseable> resources = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (AutoCloseable resource : resources.reversed()) {
      resource.close();
    }
  }

  private NbdServer serve(Path image, boolean readOnly) throws IOException {
    DiskFile disk = DiskImages.open(image, OpenOptions.readWriteDefaults().withReadOnly(readOnly));
    NbdServer server = NbdServer.builder().disk(disk).unixSocket(dir.resolve("qcow2.sock"))
        .closeDiskOnStop(true).start();
    resources.add(server);
    return server;
  }

  /** A qcow2 image made by qemu: data at 0 and 4 MiB, a zero cluster at 1 MiB, the rest unallocated. */
  private Path qemuImage(String name, String... createOptions) throws Exception {
    Path image = dir.resolve(name);
    List<String> create = new ArrayList<>(List.of("qemu-img", "create", "-q", "-f", "qcow2"));
    for (String option : createOptions) {
      create.add("-o");
      create.add(option);
    }
    create.add(image.toString());
    create.add(String.valueOf(SIZE));
    Tool.run(create.toArray(String[]::new)).assertSuccess();
    Tool.run("qemu-io", "-f", "qcow2", image.toString(), "-c", "write -P 0x11 0 128k", "-c", "write -P 0x22 4M 64k",
        "-c", "write -P 0x33 1M 64k", "-c", "write -z 1M 64k").assertSuccess();
    return image;
  }

  private static void assertChecksClean(Path image) throws Exception {
    Tool.Result check = Tool.run("qemu-img", "check", "-f", "qcow2", image.toString());
    assertThat(check.exitCode()).as(check.all()).isZero();
    assertThat(check.all()).contains("No errors were found");
  }

  @Test
  void servesAQemuMadeImageWithItsHoles() throws Exception {
    Path image = qemuImage("made.qcow2");
    NbdServer server = serve(image, true);
    Path copy = dir.resolve("copy.raw");
    Tool.run("qemu-img", "convert", "-f", "raw", "-O", "raw", server.uri(), copy.toString()).assertSuccess();
    Tool.run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", copy.toString(), image.toString()).assertSuccess();

    String map = Tool.run("nbdinfo", "--map", server.uri()).assertSuccess().out();
    assertThat(map).containsPattern("(?m)^\\s+0\\s+131072\\s+0\\s+data$");
    assertThat(map).containsPattern("(?m)^\\s+4194304\\s+65536\\s+0\\s+data$");
    assertThat(map).doesNotContainPattern("(?m)^\\s+1048576\\s+\\d+\\s+0\\s+data$");
    assertThat(map).contains("hole,zero");

    Path viaNbdcopy = dir.resolve("nbdcopy.raw");
    Tool.run("nbdcopy", server.uri(), viaNbdcopy.toString()).assertSuccess();
    assertThat(Files.readAllBytes(viaNbdcopy)).isEqualTo(Files.readAllBytes(copy));
    server.close();
    assertChecksClean(image);
  }

  @Test
  void writesOverNbdLandInTheImageAndCheckClean() throws Exception {
    Path image = qemuImage("written.qcow2");
    NbdServer server = serve(image, false);
    Tool.Result io = Tool.run("qemu-io", "-f", "raw", server.uri(),
        "-c", "write -P 0xab 64k 128k",
        "-c", "write -P 0xcd 3000 5000",
        "-c", "write -z 4M 64k",
        "-c", "write -z 8M 100k",
        "-c", "discard 0 64k",
        "-c", "write -P 0xef 15M 1M",
        "-c", "flush").assertSuccess();
    assertThat(io.all()).doesNotContain("error");
    server.close();
    assertChecksClean(image);
    Tool.Result verify = Tool.run("qemu-io", "-r", "-f", "qcow2", image.toString(),
        "-c", "read -P 0 0 64k",
        "-c", "read -P 0xab 64k 128k",
        "-c", "read -P 0 4M 64k",
        "-c", "read -P 0 8M 100k",
        "-c", "read -P 0xef 15M 1M",
        "-c", "read -P 0 1M 64k").assertSuccess();
    assertThat(verify.all()).doesNotContain("Pattern verification failed");
  }

  @Test
  void nbdcopyIntoAQcow2ExportMatchesTheSource() throws Exception {
    Path image = dir.resolve("target.qcow2");
    Tool.run("qemu-img", "create", "-q", "-f", "qcow2", image.toString(), String.valueOf(SIZE)).assertSuccess();
    byte[] source = new byte[SIZE];
    Random random = new Random(SEED);
    System.out.println("seed " + SEED);
    random.nextBytes(source);
    Arrays.fill(source, 2 << 20, 6 << 20, (byte) 0);
    Arrays.fill(source, 10 << 20, (10 << 20) + 3000, (byte) 0);
    Path sourceFile = dir.resolve("source.raw");
    Files.write(sourceFile, source);
    NbdServer server = NbdServer.builder()
        .disk(DiskImages.open(image, OpenOptions.readWriteDefaults()))
        .tcp("127.0.0.1", 0).maxClients(4).closeDiskOnStop(true).start();
    resources.add(server);
    Tool.run("nbdcopy", sourceFile.toString(), server.uri()).assertSuccess();
    server.close();
    assertChecksClean(image);
    Tool.run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", sourceFile.toString(), image.toString())
        .assertSuccess();
  }

  @Test
  void aClientVanishingWithWritesInFlightLeavesAConsistentImage() throws Exception {
    Path image = dir.resolve("vanish.qcow2");
    Tool.run("qemu-img", "create", "-q", "-f", "qcow2", image.toString(), String.valueOf(SIZE)).assertSuccess();
    NbdServer server = serve(image, false);
    int blocks = 48;
    int blockSize = 64 << 10;
    try (NbdTestClient client = NbdTestClient.open(server.address(), true, false)) {
      for (int i = 0; i < blocks; i++) {
        byte[] data = new byte[blockSize];
        Arrays.fill(data, (byte) (i + 1));
        // Scattered, so that many clusters and L2 entries are allocated at once.
        long offset = (long) ((i * 37) % (SIZE / blockSize)) * blockSize;
        client.send(0, Protocol.CMD_WRITE, i, offset, blockSize, data);
      }
      // Gone without reading a reply or saying NBD_CMD_DISC.
    }
    server.close();
    assertChecksClean(image);
    Path raw = dir.resolve("vanish.raw");
    Tool.run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", image.toString(), raw.toString()).assertSuccess();
    byte[] bytes = Files.readAllBytes(raw);
    for (int i = 0; i < blocks; i++) {
      long offset = (long) ((i * 37) % (SIZE / blockSize)) * blockSize;
      byte[] block = Arrays.copyOfRange(bytes, (int) offset, (int) offset + blockSize);
      byte first = block[0];
      assertThat(first == 0 || first == (byte) (i + 1)).as("block %d holds %d", i, first).isTrue();
      assertThat(block).as("block %d is whole", i).containsOnly(first);
    }
  }

  @Test
  void anOverlayReadsThroughItsBackingFileAndTakesWrites() throws Exception {
    Path base = qemuImage("base.qcow2");
    Path overlay = dir.resolve("overlay.qcow2");
    Tool.run("qemu-img", "create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", "qcow2", overlay.toString())
        .assertSuccess();
    byte[] baseBefore = Files.readAllBytes(base);
    NbdServer server = serve(overlay, false);
    Tool.run("qemu-io", "-f", "raw", server.uri(),
        "-c", "read -P 0x11 0 128k",
        "-c", "read -P 0x22 4M 64k",
        "-c", "write -P 0x44 100k 8k",
        "-c", "write -z 4M 4k",
        "-c", "flush").assertSuccess();
    server.close();
    assertChecksClean(overlay);
    assertThat(Files.readAllBytes(base)).as("the backing file is never written").isEqualTo(baseBefore);
    Tool.Result verify = Tool.run("qemu-io", "-r", "-f", "qcow2", overlay.toString(),
        "-c", "read -P 0x11 0 100k",
        "-c", "read -P 0x44 100k 8k",
        "-c", "read -P 0x11 108k 20k",
        "-c", "read -P 0 4M 4k",
        "-c", "read -P 0x22 4100k 60k").assertSuccess();
    assertThat(verify.all()).doesNotContain("Pattern verification failed");
  }
}
