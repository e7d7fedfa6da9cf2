package io.qcow4j.nbd;

import io.qcow4j.storage.ProtocolDriver;
import io.qcow4j.storage.Storage;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * QEMU's "ssh" protocol driver up to the SSH session: its options read as block/ssh.c reads them
 * (an "ssh://[USER@]HOST[:PORT]/PATH" name, the legacy host, port and host_key_check, the
 * server.host, server.port, path, user and host-key-check.* options) and the TCP connection made
 * as QEMU makes it, with QEMU's messages for each failure. qcow4j does not speak the SSH protocol:
 * a server that accepts the connection gets a refusal that says so. It lives beside the NBD client,
 * whose address code it shares.
 */
public final class SshProtocolDriver implements ProtocolDriver {
  private static final Set<String> KNOWN = Set.of("server.host", "server.port", "path", "user",
      "host-key-check.mode", "host-key-check.type", "host-key-check.hash");

  /** The service loader's constructor. */
  public SshProtocolDriver() {}

  @Override
  public String name() {
    return "ssh";
  }

  @Override
  public List<String> protocols() {
    return List.of("ssh");
  }

  @Override
  public Storage open(Map<String, String> options, boolean readOnly) throws IOException {
    String filename = options.remove("filename");
    if (filename != null) {
      parseFilename(filename, options);
    }
    String host = options.remove("host");
    String port = options.remove("port");
    String hostKeyCheck = options.remove("host_key_check");
    if (port != null && !isNumber(port)) {
      throw new IOException("Parameter 'port' expects a number");
    }
    if (host == null && port != null) {
      throw new IOException("port may not be used without host");
    }
    if (host != null) {
      options.put("server.host", host);
      options.put("server.port", port != null ? port : "22");
    }
    if (hostKeyCheck != null) {
      hostKeyCheck(hostKeyCheck, options);
    }
    for (String key : options.keySet()) {
      if (!KNOWN.contains(key)) {
        throw new IOException("Parameter '" + key + "' is unexpected");
      }
    }
    String serverHost = required(options, "server.host");
    String serverPort = required(options, "server.port");
    required(options, "path");
    options.clear();
    if (!isNumber(serverPort)) {
      throw new IOException("Use only numeric port value");
    }
    try (SocketChannel channel = NbdAddress.inet(serverHost, serverPort).connect()) {
      throw new IOException("qcow4j does not speak the SSH protocol: cannot open an image on '" + serverHost + ":"
          + serverPort + "' over ssh");
    }
  }

  private static String required(Map<String, String> options, String key) throws IOException {
    String value = options.get(key);
    if (value == null) {
      throw new IOException("Parameter '" + key + "' is missing");
    }
    return value;
  }

  /** QemuOpts' number: an unsigned decimal, octal or hexadecimal integer. */
  private static boolean isNumber(String text) {
    try {
      String value = text.strip();
      if (value.startsWith("0x") || value.startsWith("0X")) {
        Long.parseUnsignedLong(value.substring(2), 16);
      } else {
        Long.parseUnsignedLong(value);
      }
      return !value.isEmpty();
    } catch (NumberFormatException e) {
      return false;
    }
  }

  private static void hostKeyCheck(String value, Map<String, String> options) throws IOException {
    if (value.equals("no")) {
      options.put("host-key-check.mode", "none");
    } else if (value.equals("yes")) {
      options.put("host-key-check.mode", "known_hosts");
    } else {
      for (String type : List.of("md5", "sha1", "sha256")) {
        if (value.startsWith(type + ":")) {
          options.put("host-key-check.mode", "hash");
          options.put("host-key-check.type", type);
          options.put("host-key-check.hash", value.substring(type.length() + 1));
          return;
        }
      }
      throw new IOException("unknown host_key_check setting (" + value + ")");
    }
  }

  /** QEMU's ssh_parse_filename. */
  private static void parseFilename(String filename, Map<String, String> options) throws IOException {
    for (String key : options.keySet()) {
      if (key.equals("host") || key.equals("port") || key.equals("path") || key.equals("user")
          || key.equals("host_key_check") || key.startsWith("server.")) {
        throw new IOException("Option '" + key + "' cannot be used with a file name");
      }
    }
    URI uri;
    try {
      uri = new URI(filename);
    } catch (URISyntaxException e) {
      throw new IOException("Invalid URI");
    }
    if (!"ssh".equals(uri.getScheme())) {
      throw new IOException("URI scheme must be 'ssh'");
    }
    if (uri.getHost() == null || uri.getHost().isEmpty()) {
      throw new IOException("missing hostname in URI");
    }
    if (uri.getPath() == null || uri.getPath().isEmpty()) {
      throw new IOException("missing remote path in URI");
    }
    if (uri.getUserInfo() != null && !uri.getUserInfo().isEmpty()) {
      options.put("user", uri.getUserInfo());
    }
    options.put("server.host", uri.getHost());
    options.put("server.port", Integer.toString(uri.getPort() > 0 ? uri.getPort() : 22));
    options.put("path", uri.getPath());
    String query = uri.getQuery();
    if (query != null) {
      for (String pair : query.split("[&;]")) {
        if (pair.startsWith("host_key_check=")) {
          options.put("host_key_check", pair.substring("host_key_check=".length()));
        }
      }
    }
  }
}
