package io.qcow4j.cli;

import io.qcow4j.nbd.ExportInfo;
import io.qcow4j.nbd.NbdAddress;
import io.qcow4j.nbd.NbdClient;
import io.qcow4j.nbd.NbdServer;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;

/** qemu-nbd --list: the exports of a server, printed as qemu-nbd 7.2's qemu_nbd_client_list prints them. */
final class ExportListing {
  private ExportListing() {}

  /**
   * Lists the exports of the server at the Unix socket {@code socket}, or else at {@code bind}
   * (qemu-nbd's default 0.0.0.0) and {@code port} (10809); the exit status.
   */
  static int list(String socket, String bind, Integer port, Invocation invocation) {
    NbdAddress address = socket != null ? NbdAddress.unix(socket)
        : NbdAddress.inet(bind != null ? bind : "0.0.0.0", String.valueOf(port != null ? port : NbdServer.DEFAULT_PORT));
    List<ExportInfo> exports;
    try {
      exports = NbdClient.list(address);
    } catch (IOException e) {
      invocation.error(Failures.reason(e, null));
      Failures.hint(e).ifPresent(invocation.err()::println);
      invocation.err().flush();
      return 1;
    }
    print(exports, invocation.out());
    return 0;
  }

  static void print(List<ExportInfo> exports, PrintWriter out) {
    out.println("exports available: " + exports.size());
    for (ExportInfo export : exports) {
      out.println(" export: '" + export.name() + "'");
      if (export.description() != null && !export.description().isEmpty()) {
        out.println("  description: " + export.description());
      }
      if (export.hasFlags()) {
        out.println("  size:  " + Long.toUnsignedString(export.size()));
        StringBuilder flags = new StringBuilder("  flags: 0x").append(Integer.toHexString(export.flags())).append(" (");
        for (String name : export.flagNames()) {
          flags.append(' ').append(name);
        }
        out.println(flags.append(" )"));
      }
      if (export.minBlock() != 0) {
        out.println("  min block: " + Integer.toUnsignedString(export.minBlock()));
        out.println("  opt block: " + Integer.toUnsignedString(export.optBlock()));
        out.println("  max block: " + Integer.toUnsignedString(export.maxBlock()));
      }
      if (!export.contexts().isEmpty()) {
        out.println("  available meta contexts: " + export.contexts().size());
        for (String context : export.contexts()) {
          out.println("   " + context);
        }
      }
    }
    out.flush();
  }
}
