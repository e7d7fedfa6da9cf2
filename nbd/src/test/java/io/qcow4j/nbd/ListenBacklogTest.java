package io.qcow4j.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** 200 clients connecting at once, while the server accepts none of them yet, all get into the listen backlog. */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ListenBacklogTest {
  private static final int CLIENTS = 200;

  @TempDir Path dir;
  private final List<SocketChannel> channels = new ArrayList<>();
  private NbdServer server;

  @AfterEach
  void tearDown() throws IOException {
    for (SocketChannel channel : channels) {
      channel.close();
    }
    if (server != null) {
      server.close();
    }
  }

  @Test
  void unixSocketQueues200SimultaneousConnects() throws Exception {
    server = NbdServer.builder().disk(new ZeroAwareDisk(new byte[1 << 20], false)).maxClients(1)
        .unixSocket(dir.resolve("nbd.sock")).start();
    occupyTheOnlySlot();
    // A non-blocking connect to a Unix socket whose backlog is full fails at once with EAGAIN.
    int queued = 0;
    List<String> refusals = new ArrayList<>();
    for (int i = 0; i < CLIENTS; i++) {
      SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
      channels.add(channel);
      channel.configureBlocking(false);
      try {
        if (channel.connect(server.address()) || channel.finishConnect()) {
          queued++;
        }
      } catch (IOException e) {
        refusals.add(e.getMessage());
      }
    }
    assertThat(queued).as("connects queued; refusals: %s", refusals.stream().distinct().toList())
        .isEqualTo(CLIENTS);
  }

  @Test
  void tcpQueues200SimultaneousConnects() throws Exception {
    server = NbdServer.builder().disk(new ZeroAwareDisk(new byte[1 << 20], false)).maxClients(1)
        .tcp("127.0.0.1", 0).start();
    occupyTheOnlySlot();
    // Over TCP a full backlog drops the SYN (or the final ACK): the connect then hangs for a
    // retransmission that never gets in either, so every connect must complete at once.
    List<SocketChannel> pending = new ArrayList<>();
    for (int i = 0; i < CLIENTS; i++) {
      SocketChannel channel = SocketChannel.open();
      channels.add(channel);
      channel.configureBlocking(false);
      if (!channel.connect(server.address())) {
        pending.add(channel);
      }
    }
    long deadline = System.nanoTime() + Duration.ofSeconds(3).toNanos();
    while (!pending.isEmpty() && System.nanoTime() < deadline) {
      pending.removeIf(channel -> {
        try {
          return channel.finishConnect();
        } catch (IOException e) {
          return false;
        }
      });
      Thread.sleep(5);
    }
    assertThat(pending.size()).as("connects of %d still pending after 3 s", CLIENTS).isZero();
    // The handshake completed on the client side; the server must also hold each one in its
    // accept queue: once the slot frees, every client gets the greeting.
    channels.getFirst().close();
    for (SocketChannel channel : channels.subList(1, 6)) {
      channel.configureBlocking(true);
    }
    assertThat(greeted(channels.get(1))).isTrue();
  }

  /** Connects one client and waits until the server has accepted it, so the acceptor stops accepting. */
  private void occupyTheOnlySlot() throws Exception {
    SocketAddress address = server.address();
    SocketChannel first = address instanceof UnixDomainSocketAddress
        ? SocketChannel.open(StandardProtocolFamily.UNIX) : SocketChannel.open();
    first.connect(address instanceof InetSocketAddress inet ? inet : address);
    channels.add(first);
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (server.clientCount() < 1 && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(server.clientCount()).as("first client accepted").isEqualTo(1);
  }

  private static boolean greeted(SocketChannel channel) throws IOException {
    ByteBuffer magic = ByteBuffer.allocate(8);
    while (magic.hasRemaining()) {
      if (channel.read(magic) < 0) {
        return false;
      }
    }
    return magic.flip().getLong() == Protocol.NBDMAGIC;
  }
}
