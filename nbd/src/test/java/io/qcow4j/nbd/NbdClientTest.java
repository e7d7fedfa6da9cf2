package io.qcow4j.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.DirtyRange;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The NBD client against qcow4j's own server and against the real qemu-nbd. */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdClientTest {
  private static final int SIZE = 4 << 20;
  private static final long SEED = System.nanoTime();

  @TempDir Path dir;
  private final List<AutoCloseable> resources = new ArrayList<>();
  private final List<Process> processes = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (AutoCloseable resource : resources.reversed()) {
      resource.close();
    }
    for (Process process : processes) {
      process.destroy();
      process.waitFor(10, TimeUnit.SECONDS);
    }
  }

  /** A sparse raw file of SIZE bytes with random data in its first 64 KiB and at 1 MiB. */
  private byte[] sparseRaw(Path image) throws IOException {
    byte[] content = new byte[SIZE];
    Random random = new Random(SEED);
    byte[] head = new byte[64 << 10];
    random.nextBytes(head);
    System.arraycopy(head, 0, content, 0, head.length);
    Arrays.fill(content, 1 << 20, (1 << 20) + 65536, (byte) 0x42);
    try (FileChannel channel = FileChannel.open(image, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      channel.write(ByteBuffer.wrap(content, 0, head.length), 0);
      channel.write(ByteBuffer.wrap(content, 1 << 20, 65536), 1 << 20);
    }
    try (java.io.RandomAccessFile file = new java.io.RandomAccessFile(image.toFile(), "rw")) {
      file.setLength(SIZE);
    }
    return content;
  }

  private NbdServer serve(NbdServer.Builder builder, String socketName) throws IOException {
    NbdServer server = builder.unixSocket(dir.resolve(socketName)).start();
    resources.add(server);
    return server;
  }

  private NbdClient connect(String socketName, String export, String context) throws IOException {
    NbdClient client = NbdClient.connect(NbdAddress.unix(dir.resolve(socketName).toString()), export, context);
    resources.add(client);
    return client;
  }

  @Test
  void readsWritesAndZeroesThroughOurServer() throws Exception {
    System.out.println("seed " + SEED);
    Path image = dir.resolve("disk.raw");
    byte[] content = sparseRaw(image);
    DiskFile disk = DiskImages.open(image, OpenOptions.readWriteDefaults().withReadOnly(false));
    serve(NbdServer.builder().disk(disk).exportName("disk").closeDiskOnStop(true), "rw.sock");
    NbdClient client = connect("rw.sock", "disk", null);

    assertThat(client.size()).isEqualTo(SIZE);
    assertThat(client.metaContext()).isEqualTo("base:allocation");
    assertThat(client.info().minBlock()).isEqualTo(1);
    assertThat(client.info().maxBlock()).isEqualTo(32 << 20);
    ByteBuffer all = ByteBuffer.allocate(SIZE);
    client.read(all, 0);
    assertThat(all.array()).isEqualTo(content);

    byte[] pattern = new byte[100_000];
    new Random(SEED + 1).nextBytes(pattern);
    client.write(ByteBuffer.wrap(pattern), 12_345, true);
    System.arraycopy(pattern, 0, content, 12_345, pattern.length);
    client.writeZeroes(1 << 20, 4096, false);
    Arrays.fill(content, 1 << 20, (1 << 20) + 4096, (byte) 0);
    client.trim(3 << 20, 1 << 20);
    client.flush();
    ByteBuffer again = ByteBuffer.allocate(SIZE);
    client.read(again, 0);
    assertThat(again.array()).isEqualTo(content);
    assertThat(Files.readAllBytes(image)).isEqualTo(content);

    NbdClient.Status head = client.blockStatus(0, SIZE);
    assertThat(head.hole()).isFalse();
    NbdClient.Status hole = client.blockStatus(2 << 20, SIZE - (2 << 20));
    assertThat(hole.hole()).isTrue();
    assertThat(hole.zero()).isTrue();
    assertThat(hole.length()).isLessThanOrEqualTo(SIZE - (2 << 20));
  }

  @Test
  void requestsFromManyThreadsAreAnsweredEachToItsOwn() throws Exception {
    Path image = dir.resolve("disk.raw");
    sparseRaw(image);
    DiskFile disk = DiskImages.open(image, OpenOptions.readWriteDefaults().withReadOnly(false));
    serve(NbdServer.builder().disk(disk).closeDiskOnStop(true), "threads.sock");
    NbdClient client = connect("threads.sock", "", null);
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<?>> futures = new ArrayList<>();
      for (int worker = 0; worker < 8; worker++) {
        int index = worker;
        futures.add(pool.submit(() -> {
          long base = (long) index * (SIZE / 8);
          Random random = new Random(SEED + index);
          for (int round = 0; round < 50; round++) {
            byte[] data = new byte[1 + random.nextInt(20_000)];
            random.nextBytes(data);
            long offset = base + random.nextInt(SIZE / 8 - data.length);
            client.write(ByteBuffer.wrap(data), offset, false);
            ByteBuffer back = ByteBuffer.allocate(data.length);
            client.read(back, offset);
            assertThat(back.array()).isEqualTo(data);
          }
          return null;
        }));
      }
      for (Future<?> future : futures) {
        future.get();
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void listsExportsWithTheirContexts() throws Exception {
    Path image = dir.resolve("disk.raw");
    sparseRaw(image);
    DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults());
    List<DirtyRange> none = List.of();
    serve(NbdServer.builder().disk(disk).exportName("disk").description("the disk").readOnly(true)
        .allocationDepth(true).dirtyBitmap(new NbdServer.ExportedBitmap("b0", (offset, length) -> none))
        .closeDiskOnStop(true), "list.sock");
    List<ExportInfo> exports = NbdClient.list(NbdAddress.unix(dir.resolve("list.sock").toString()));
    assertThat(exports).hasSize(1);
    ExportInfo export = exports.getFirst();
    assertThat(export.name()).isEqualTo("disk");
    assertThat(export.description()).isEqualTo("the disk");
    assertThat(export.size()).isEqualTo(SIZE);
    assertThat(export.readOnly()).isTrue();
    assertThat(export.flagNames()).contains("readonly", "flush", "df");
    assertThat(export.minBlock()).isEqualTo(1);
    assertThat(export.optBlock()).isEqualTo(4096);
    assertThat(export.contexts())
        .containsExactly("base:allocation", "qemu:allocation-depth", "qemu:dirty-bitmap:b0");
  }

  @Test
  void anUnknownExportAndARefusedWriteGetQemusMessages() throws Exception {
    Path image = dir.resolve("disk.raw");
    sparseRaw(image);
    DiskFile disk = DiskImages.open(image, OpenOptions.readOnlyDefaults());
    serve(NbdServer.builder().disk(disk).exportName("disk").readOnly(true).closeDiskOnStop(true), "ro.sock");
    assertThatThrownBy(() -> connect("ro.sock", "other", null))
        .hasMessage("Requested export not available")
        .satisfies(e -> assertThat(((NbdOptionException) e).hint()).startsWith("server reported: export 'other'"));
    assertThatThrownBy(() -> connect("ro.sock", "disk", "qemu:dirty-bitmap:missing"))
        .hasMessage("Could not open image: Invalid argument");
    NbdClient client = connect("ro.sock", "disk", null);
    assertThat(client.info().readOnly()).isTrue();
    assertThatThrownBy(() -> client.write(ByteBuffer.allocate(512), 0, false))
        .isInstanceOf(NbdErrorException.class).hasMessage("Operation not permitted");
    // the connection goes on after an error reply
    ByteBuffer sector = ByteBuffer.allocate(512);
    client.read(sector, 0);
    assertThat(sector.position()).isEqualTo(512);
    assertThatThrownBy(() -> NbdStorage.open(new NbdTarget(client.address(), "disk", null), false, false))
        .hasMessage("NBD export is read-only");
  }

  /** Starts the real qemu-nbd on a Unix socket with {@code arguments} and waits for its socket. */
  private Path qemuNbd(String socketName, String... arguments) throws Exception {
    Tool.require("qemu-nbd");
    Path socket = dir.resolve(socketName);
    List<String> command = new ArrayList<>(List.of("qemu-nbd", "-t", "-k", socket.toString()));
    command.addAll(List.of(arguments));
    Process process = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(dir.resolve(socketName + ".log").toFile()).start();
    processes.add(process);
    for (int i = 0; i < 200 && !Files.exists(socket); i++) {
      if (!process.isAlive()) {
        throw new AssertionError("qemu-nbd exited: " + Files.readString(dir.resolve(socketName + ".log")));
      }
      Thread.sleep(50);
    }
    assertThat(socket).exists();
    return socket;
  }

  @Test
  void readsAndWritesThroughQemuNbd() throws Exception {
    Path image = dir.resolve("disk.raw");
    byte[] content = sparseRaw(image);
    qemuNbd("q.sock", "-x", "disk", "-f", "raw", image.toString());
    NbdStorage storage = NbdStorage.open(new NbdTarget(NbdAddress.unix(dir.resolve("q.sock").toString()), "disk",
        null), false, false);
    resources.add(storage);
    assertThat(storage.size()).isEqualTo(SIZE);
    assertThat(storage.name()).isEqualTo("nbd+unix:///disk?socket=" + dir.resolve("q.sock"));
    ByteBuffer all = ByteBuffer.allocate(SIZE);
    storage.readFully(all, 0);
    assertThat(all.array()).isEqualTo(content);
    byte[] pattern = new byte[70_000];
    new Random(SEED + 2).nextBytes(pattern);
    storage.write(ByteBuffer.wrap(pattern), 2 << 20);
    storage.force(false);
    System.arraycopy(pattern, 0, content, 2 << 20, pattern.length);
    assertThat(Files.readAllBytes(image)).isEqualTo(content);
    assertThat(storage.nextData(0)).isZero();
    assertThat(storage.nextHole(0)).isEqualTo(64 << 10);
    assertThat(storage.nextData(64 << 10)).isEqualTo(1 << 20);
    assertThatThrownBy(() -> storage.ensureSize(SIZE * 2L)).hasMessage("Cannot grow NBD nodes");
    assertThatThrownBy(() -> storage.truncate(SIZE / 2)).hasMessage("Cannot resize NBD nodes");
    storage.truncate(SIZE);
  }

  @Test
  void allocationDepthThroughQemuNbdReadsAsQemusXDirtyBitmap() throws Exception {
    Tool.require("qemu-img");
    Path base = dir.resolve("base.qcow2");
    Path top = dir.resolve("top.qcow2");
    Tool.run("qemu-img", "create", "-f", "qcow2", base.toString(), "4M").assertSuccess();
    Tool.run("qemu-io", "-f", "qcow2", "-c", "write 0 2M", base.toString()).assertSuccess();
    Tool.run("qemu-img", "create", "-f", "qcow2", "-b", base.toString(), "-F", "qcow2", top.toString(), "4M")
        .assertSuccess();
    Tool.run("qemu-io", "-f", "qcow2", "-c", "write 1M 2M", top.toString()).assertSuccess();
    qemuNbd("depth.sock", "-e", "2", "-r", "-f", "qcow2", "-A", top.toString());
    NbdClient client = connect("depth.sock", "", "qemu:allocation-depth");
    assertThat(client.metaContext()).isEqualTo("qemu:allocation-depth");
    // depth 2 (the backing file), depth 1 (the image), depth 0 (unallocated)
    assertThat(client.blockStatus(0, 4 << 20)).isEqualTo(new NbdClient.Status(1 << 20, 2));
    assertThat(client.blockStatus(1 << 20, 3 << 20)).isEqualTo(new NbdClient.Status(2 << 20, 1));
    assertThat(client.blockStatus(3 << 20, 1 << 20)).isEqualTo(new NbdClient.Status(1 << 20, 0));
    List<ExportInfo> exports = NbdClient.list(NbdAddress.unix(dir.resolve("depth.sock").toString()));
    assertThat(exports.getFirst().contexts()).containsExactly("base:allocation", "qemu:allocation-depth");
    assertThat(exports.getFirst().flagNames()).containsExactly("readonly", "flush", "fua", "df", "multi", "cache");
  }

  /**
   * A scripted server: the handshake a structured-reply client expects, then {@code afterRequest}
   * answers the first request header; returns the server's thread.
   */
  private Thread scriptedServer(Path socketPath, java.util.function.BiConsumer<Wire, Frames.Request> afterRequest)
      throws IOException {
    java.nio.channels.ServerSocketChannel listener =
        java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX);
    listener.bind(java.net.UnixDomainSocketAddress.of(socketPath));
    resources.add(listener);
    Thread thread = Thread.ofPlatform().daemon().start(() -> {
      try (java.nio.channels.SocketChannel channel = listener.accept(); Wire wire = new Wire(channel)) {
        wire.write(ByteBuffer.allocate(18).putLong(Protocol.NBDMAGIC).putLong(Protocol.IHAVEOPT)
            .putShort((short) (Protocol.FLAG_FIXED_NEWSTYLE | Protocol.FLAG_NO_ZEROES)).flip());
        wire.readInt();
        while (true) {
          wire.readLong();
          int option = wire.readInt();
          wire.skip(Integer.toUnsignedLong(wire.readInt()));
          if (option == Protocol.OPT_SET_META_CONTEXT) {
            byte[] name = Frames.bytes(Protocol.BASE_ALLOCATION);
            wire.write(Frames.optionReply(option, Protocol.REP_META_CONTEXT, 4 + name.length),
                ByteBuffer.allocate(4 + name.length).putInt(5).put(name).flip());
          } else if (option == Protocol.OPT_GO) {
            wire.write(Frames.optionReply(option, Protocol.REP_INFO, 12), ByteBuffer.allocate(12)
                .putShort((short) Protocol.INFO_EXPORT).putLong(1 << 20)
                .putShort((short) (Protocol.FLAG_HAS_FLAGS | Protocol.FLAG_SEND_FLUSH)).flip());
          }
          wire.write(Frames.optionReply(option, Protocol.REP_ACK, 0));
          if (option == Protocol.OPT_GO) {
            break;
          }
        }
        ByteBuffer header = ByteBuffer.allocate(Frames.REQUEST_BYTES);
        wire.readFully(header);
        header.flip().getInt();
        afterRequest.accept(wire, Frames.Request.decodeAfterMagic(header));
        // keep the connection open until the client hangs up
        wire.skip(Long.MAX_VALUE);
      } catch (IOException e) {
        // the client hung up
      }
    });
    return thread;
  }

  @Test
  void aBrokenReplyFailsTheRequestAndEveryLaterOne() throws Exception {
    Path socketPath = dir.resolve("broken.sock");
    scriptedServer(socketPath, (wire, request) -> {
      try {
        wire.write(ByteBuffer.allocate(16).putInt(0x12345678).putInt(0).putLong(request.cookie()).flip());
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    NbdClient client = connect("broken.sock", "", null);
    assertThat(client.size()).isEqualTo(1 << 20);
    assertThat(client.metaContext()).isEqualTo("base:allocation");
    assertThatThrownBy(() -> client.read(ByteBuffer.allocate(512), 0))
        .isInstanceOf(NbdErrorException.class).hasMessage("Input/output error")
        .cause().hasMessage("invalid magic (got 0x12345678)");
    assertThatThrownBy(() -> client.flush()).isInstanceOf(NbdErrorException.class).hasMessage("Input/output error");
  }

  @Test
  void aReadChunkOutsideTheRequestIsAProtocolError() throws Exception {
    Path socketPath = dir.resolve("outside.sock");
    scriptedServer(socketPath, (wire, request) -> {
      try {
        wire.write(Frames.chunkHeader(Protocol.REPLY_FLAG_DONE, Protocol.REPLY_TYPE_OFFSET_DATA, request.cookie(),
            8 + 512, 8).putLong(request.offset() + 4096).flip(), ByteBuffer.allocate(512));
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    NbdClient client = connect("outside.sock", "", null);
    assertThatThrownBy(() -> client.read(ByteBuffer.allocate(512), 0))
        .isInstanceOf(NbdErrorException.class)
        .cause().hasMessage("Protocol error: server sent chunk exceeding requested region");
  }
}
