package io.qcow4j.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Builder.listening: the server accepts on a socket that already listens (socket activation's),
 * serves it as a bound one, closes it when it stops and leaves its file where it is.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ListeningChannelTest {
  @TempDir Path dir;

  @Test
  void servesOnTheGivenSocketAndLeavesItsFile() throws Exception {
    Path path = dir.resolve("activated.sock");
    ServerSocketChannel channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    channel.bind(UnixDomainSocketAddress.of(path));
    java.util.concurrent.atomic.AtomicBoolean closedWhenRun = new java.util.concurrent.atomic.AtomicBoolean();
    NbdServer server = NbdServer.builder().disk(new ZeroAwareDisk(new byte[1 << 20], false)).persistent(false)
        .listening(channel, () -> closedWhenRun.set(!channel.isOpen())).start();
    assertThat(server.uri()).isEqualTo("nbd+unix:///?socket=" + path);
    // the size line of a client's handshake: the export is served on that socket
    try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(path))) {
      java.nio.ByteBuffer greeting = java.nio.ByteBuffer.allocate(18);
      while (greeting.hasRemaining() && client.read(greeting) >= 0) {
        // the server's first 18 bytes: NBDMAGIC, IHAVEOPT, handshake flags
      }
      assertThat(new String(greeting.array(), 0, 8, java.nio.charset.StandardCharsets.US_ASCII)).isEqualTo("NBDMAGIC");
    }
    // not persistent: the last client's leaving stops the server, which closes the channel
    assertThat(server.awaitTermination(Duration.ofSeconds(30))).isTrue();
    assertThat(channel.isOpen()).isFalse();
    assertThat(closedWhenRun).as("afterClose ran once the channel was closed").isTrue();
    assertThat(Files.exists(path)).as("the socket's file is the caller's").isTrue();
  }
}
