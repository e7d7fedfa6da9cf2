package io.qcow4j.nbd;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What QEMU 7.2's nbd block driver connects to: the server's address, the export (null: the
 * default one, which the server names "") and the x-dirty-bitmap context that replaces
 * base:allocation in block status. Read from the driver's options as block/nbd.c reads them: a
 * file name ("nbd:unix:PATH[:exportname=NAME]", "nbd:HOST:PORT[:exportname=NAME]",
 * "nbd[+tcp]://HOST[:PORT]/EXPORT", "nbd+unix:///EXPORT?socket=PATH"), the legacy "host", "port"
 * and "path" options, or "server.type" with its address ("server.path"; "server.host",
 * "server.port"); errors are QEMU's.
 */
public record NbdTarget(NbdAddress address, String export, String dirtyBitmap) {
  private static final String EXPORT_NAME_OPTION = ":exportname=";
  private static final int MAX_STRING = Protocol.MAX_STRING;
  /** The options a server address may carry beyond its type's required ones (QAPI's SocketAddress). */
  private static final List<String> INET_OPTIONAL = List.of("numeric", "to", "ipv4", "ipv6", "keep-alive", "mptcp");
  private static final List<String> UNIX_OPTIONAL = List.of("abstract", "tight");

  /** The export name to send: the default export's is empty. */
  public String exportName() {
    return export == null ? "" : export;
  }

  /** The image name QEMU gives such a node ("nbd+unix:///EXPORT?socket=PATH", "nbd://HOST:PORT"). */
  public String uri() {
    return address.uri(export);
  }

  /**
   * Reads the nbd driver's options, removing each one it takes; {@code options} holds QemuOpts
   * strings with flat dotted keys, and "filename" when the image was named by a file name.
   */
  public static NbdTarget read(Map<String, String> options) throws IOException {
    String filename = options.remove("filename");
    if (filename != null) {
      parseFilename(filename, options);
    }
    String host = options.remove("host");
    String port = options.remove("port");
    String path = options.remove("path");
    String export = options.remove("export");
    String tlsCreds = options.remove("tls-creds");
    options.remove("tls-hostname");
    String dirtyBitmap = options.remove("x-dirty-bitmap");
    number(options, "reconnect-delay");
    number(options, "open-timeout");
    if (path != null || host != null || port != null) {
      for (String key : options.keySet()) {
        if (key.startsWith("server.")) {
          throw new IOException("Cannot use 'server' and path/host/port at the same time");
        }
      }
      if (path != null && host != null) {
        throw new IOException("path and host may not be used at the same time");
      }
      if (path != null) {
        if (port != null) {
          throw new IOException("port may not be used without host");
        }
        options.put("server.type", "unix");
        options.put("server.path", path);
      } else if (host != null) {
        options.put("server.type", "inet");
        options.put("server.host", host);
        options.put("server.port", port != null ? port : Integer.toString(NbdServer.DEFAULT_PORT));
      }
    }
    NbdAddress address = server(options);
    if (export != null && export.getBytes(StandardCharsets.UTF_8).length > MAX_STRING) {
      throw new IOException("export name too long to send to server");
    }
    if (tlsCreds != null) {
      throw new IOException("No TLS credentials with id '" + tlsCreds + "'");
    }
    if (dirtyBitmap != null && dirtyBitmap.getBytes(StandardCharsets.UTF_8).length > MAX_STRING) {
      throw new IOException("x-dirty-bitmap query too long to send to server");
    }
    return new NbdTarget(address, export, dirtyBitmap);
  }

  private static void number(Map<String, String> options, String key) throws IOException {
    String value = options.remove(key);
    if (value != null) {
      try {
        Long.parseUnsignedLong(value.strip());
      } catch (NumberFormatException e) {
        throw new IOException("Parameter '" + key + "' expects a number");
      }
    }
  }

  /** QEMU's nbd_config: the "server." options as a SocketAddress. */
  private static NbdAddress server(Map<String, String> options) throws IOException {
    Map<String, String> server = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, String>> it = options.entrySet().iterator(); it.hasNext(); ) {
      Map.Entry<String, String> entry = it.next();
      if (entry.getKey().startsWith("server.")) {
        server.put(entry.getKey().substring("server.".length()), entry.getValue());
        it.remove();
      }
    }
    if (server.isEmpty()) {
      throw new IOException("NBD server address missing");
    }
    String type = server.remove("type");
    if (type == null) {
      throw new IOException("Parameter 'type' is missing");
    }
    NbdAddress address = switch (type) {
      case "unix" -> NbdAddress.unix(required(server, "path"));
      case "inet" -> {
        String host = required(server, "host");
        yield NbdAddress.inet(host, required(server, "port"));
      }
      case "fd", "vsock" -> throw new IOException("qcow4j connects to NBD servers over 'unix' and 'inet' "
          + "sockets only, not '" + type + "'");
      default -> throw new IOException("Parameter 'type' does not accept value '" + type + "'");
    };
    List<String> optional = type.equals("unix") ? UNIX_OPTIONAL : INET_OPTIONAL;
    for (String key : server.keySet()) {
      if (!optional.contains(key)) {
        throw new IOException("Parameter '" + key + "' is unexpected");
      }
    }
    return address;
  }

  private static String required(Map<String, String> server, String key) throws IOException {
    String value = server.remove(key);
    if (value == null) {
      throw new IOException("Parameter '" + key + "' is missing");
    }
    return value;
  }

  /** QEMU's nbd_parse_filename: the options a file name stands for, added to {@code options}. */
  static void parseFilename(String filename, Map<String, String> options) throws IOException {
    for (String key : options.keySet()) {
      if (key.equals("host") || key.equals("port") || key.equals("path") || key.equals("export")
          || key.startsWith("server.")) {
        throw new IOException("Option '" + key + "' cannot be used with a file name");
      }
    }
    if (filename.contains("://")) {
      if (!parseUri(filename, options)) {
        throw new IOException("No valid URL specified");
      }
      return;
    }
    String file = filename;
    int exportAt = file.indexOf(EXPORT_NAME_OPTION);
    if (exportAt >= 0) {
      String export = file.substring(exportAt + EXPORT_NAME_OPTION.length());
      if (export.isEmpty()) {
        // QEMU takes nothing at all from such a name
        return;
      }
      file = file.substring(0, exportAt);
      options.put("export", export);
    }
    if (!file.startsWith("nbd:")) {
      throw new IOException("File name string for NBD must start with 'nbd:'");
    }
    String hostSpec = file.substring("nbd:".length());
    if (hostSpec.isEmpty()) {
      return;
    }
    if (hostSpec.startsWith("unix:")) {
      options.put("server.type", "unix");
      options.put("server.path", hostSpec.substring("unix:".length()));
      return;
    }
    String[] hostAndPort = inetParse(hostSpec);
    options.put("server.type", "inet");
    options.put("server.host", hostAndPort[0]);
    options.put("server.port", hostAndPort[1]);
  }

  /** QEMU's inet_parse, for the host and port of "HOST:PORT[,opts]", ":PORT" or "[IPV6]:PORT". */
  private static String[] inetParse(String text) throws IOException {
    if (text.startsWith(":")) {
      String port = upTo(text.substring(1), ",", 32);
      if (port.isEmpty()) {
        throw new IOException("error parsing port in address '" + text + "'");
      }
      return new String[] {"", port};
    }
    if (text.startsWith("[")) {
      int close = text.indexOf(']');
      String host = close > 1 ? text.substring(1, close) : "";
      String rest = close > 0 ? text.substring(close + 1) : "";
      String port = rest.startsWith(":") ? upTo(rest.substring(1), ",", 32) : "";
      if (host.isEmpty() || host.length() > 64 || port.isEmpty()) {
        throw new IOException("error parsing IPv6 address '" + text + "'");
      }
      return new String[] {host, port};
    }
    String host = upTo(text, ":", 64);
    String rest = text.substring(host.length());
    String port = rest.startsWith(":") ? upTo(rest.substring(1), ",", 32) : "";
    if (host.isEmpty() || port.isEmpty()) {
      throw new IOException("error parsing address '" + text + "'");
    }
    return new String[] {host, port};
  }

  /** The text before the first of {@code stops}, at most {@code max} characters (sscanf's %N[^...]). */
  private static String upTo(String text, String stops, int max) {
    int end = 0;
    while (end < text.length() && end < max && stops.indexOf(text.charAt(end)) < 0) {
      end++;
    }
    return text.substring(0, end);
  }

  /** QEMU's nbd_parse_uri; false when the name is not a valid NBD URI. */
  private static boolean parseUri(String filename, Map<String, String> options) {
    URI uri;
    try {
      uri = new URI(filename);
    } catch (URISyntaxException e) {
      return false;
    }
    String scheme = uri.getScheme();
    boolean unix;
    if ("nbd".equals(scheme) || "nbd+tcp".equals(scheme)) {
      unix = false;
    } else if ("nbd+unix".equals(scheme)) {
      unix = true;
    } else {
      return false;
    }
    List<String[]> query = queryParameters(uri.getRawQuery());
    if (query.size() > 1 || (unix && query.isEmpty()) || (!unix && !query.isEmpty())) {
      return false;
    }
    String path = uri.getPath() == null ? "" : uri.getPath();
    String export = path.startsWith("/") ? path.substring(1) : path;
    if (unix) {
      if ((uri.getRawAuthority() != null && !uri.getRawAuthority().isEmpty()) || !query.getFirst()[0].equals("socket")) {
        return false;
      }
      putExport(options, export);
      options.put("server.type", "unix");
      options.put("server.path", query.getFirst()[1]);
      return true;
    }
    String host = uri.getHost();
    if (host == null || host.isEmpty() || uri.getPort() > 65535) {
      return false;
    }
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    putExport(options, export);
    options.put("server.type", "inet");
    options.put("server.host", host);
    options.put("server.port", Integer.toString(uri.getPort() > 0 ? uri.getPort() : NbdServer.DEFAULT_PORT));
    return true;
  }

  private static void putExport(Map<String, String> options, String export) {
    if (!export.isEmpty()) {
      options.put("export", export);
    }
  }

  /** The query's name=value pairs, unescaped, separated by '&' or ';' as QEMU's query_params_parse. */
  private static List<String[]> queryParameters(String rawQuery) {
    List<String[]> parameters = new ArrayList<>();
    if (rawQuery == null || rawQuery.isEmpty()) {
      return parameters;
    }
    for (String pair : rawQuery.split("[&;]")) {
      if (pair.isEmpty()) {
        continue;
      }
      int equals = pair.indexOf('=');
      String name = equals < 0 ? pair : pair.substring(0, equals);
      String value = equals < 0 ? "" : pair.substring(equals + 1);
      parameters.add(new String[] {unescape(name), unescape(value)});
    }
    return parameters;
  }

  private static String unescape(String text) {
    return URLDecoder.decode(text.replace("+", "%2B"), StandardCharsets.UTF_8);
  }
}
