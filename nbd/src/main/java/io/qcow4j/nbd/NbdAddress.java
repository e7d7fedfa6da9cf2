package io.qcow4j.nbd;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.net.UnknownHostException;
import java.nio.channels.SocketChannel;
import java.util.Objects;

/**
 * Where an NBD server listens: a Unix socket path, or a host and port (the port kept as the text
 * it was given, as QEMU keeps it). Connecting fails with QEMU's messages ("Failed to connect to
 * 'PATH': REASON", "address resolution failed for HOST:PORT: REASON").
 */
public final class NbdAddress {
  private final String path;
  private final String host;
  private final String port;

  private NbdAddress(String path, String host, String port) {
    this.path = path;
    this.host = host;
    this.port = port;
  }

  /** A Unix socket at {@code path}. */
  public static NbdAddress unix(String path) {
    return new NbdAddress(Objects.requireNonNull(path, "path"), null, null);
  }

  /** A TCP host and port ({@code port} as written: a number, checked when connecting). */
  public static NbdAddress inet(String host, String port) {
    return new NbdAddress(null, Objects.requireNonNull(host, "host"), Objects.requireNonNull(port, "port"));
  }

  /** Whether this is a Unix socket. */
  public boolean isUnix() {
    return path != null;
  }

  /** The Unix socket path; null for TCP. */
  public String path() {
    return path;
  }

  /** The TCP host; null for a Unix socket. */
  public String host() {
    return host;
  }

  /** The TCP port as given; null for a Unix socket. */
  public String port() {
    return port;
  }

  /**
   * The image name QEMU gives an NBD node of this address and export (its nbd_refresh_filename):
   * "nbd+unix:///EXPORT?socket=PATH" or "nbd://HOST:PORT/EXPORT", without the export part when
   * {@code export} is null.
   */
  public String uri(String export) {
    if (path != null) {
      return "nbd+unix://" + (export != null ? "/" + export : "") + "?socket=" + path;
    }
    return "nbd://" + host + ":" + port + (export != null ? "/" + export : "");
  }

  /** Opens a blocking connection to the server. */
  SocketChannel connect() throws IOException {
    if (path != null) {
      SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
      try {
        channel.connect(UnixDomainSocketAddress.of(path));
        return channel;
      } catch (IOException | RuntimeException e) {
        channel.close();
        throw new IOException("Failed to connect to '" + path + "': " + reason(e), e);
      }
    }
    int portNumber = portNumber();
    InetAddress[] addresses;
    try {
      addresses = InetAddress.getAllByName(host);
    } catch (UnknownHostException e) {
      throw new IOException("address resolution failed for " + host + ":" + port + ": Name or service not known", e);
    }
    IOException last = null;
    for (InetAddress address : addresses) {
      SocketChannel channel = SocketChannel.open();
      try {
        channel.connect(new InetSocketAddress(address, portNumber));
        channel.socket().setTcpNoDelay(true);
        return channel;
      } catch (IOException e) {
        channel.close();
        last = new IOException("Failed to connect to '" + host + ":" + port + "': " + reason(e), e);
      }
    }
    throw last;
  }

  /** The port as getaddrinfo would take it: a number up to 65535. */
  private int portNumber() throws IOException {
    try {
      int number = Integer.parseInt(port);
      if (number >= 0 && number <= 65535 && !port.startsWith("+")) {
        return number;
      }
    } catch (NumberFormatException e) {
      // a service name: not looked up
    }
    throw new IOException("address resolution failed for " + host + ":" + port
        + ": Servname not supported for ai_socktype");
  }

  /** The system's words for why a connection failed ("Connection refused"). */
  private static String reason(Exception failure) {
    String message = failure.getMessage();
    if (message == null) {
      return failure.getClass().getSimpleName();
    }
    // the JDK adds the address after the system's reason in some messages
    int colon = message.indexOf(": ");
    return colon > 0 && message.startsWith("Connection refused") ? "Connection refused" : message;
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof NbdAddress that && Objects.equals(path, that.path) && Objects.equals(host, that.host)
        && Objects.equals(port, that.port);
  }

  @Override
  public int hashCode() {
    return Objects.hash(path, host, port);
  }

  @Override
  public String toString() {
    return path != null ? "unix:" + path : host + ":" + port;
  }
}
