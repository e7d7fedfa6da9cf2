package io.qcow4j.cli;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.nbd.NbdServer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** qemu-nbd: export an image over NBD until the last client leaves (or, with -t, until stopped). */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Export an image over the NBD protocol, like qemu-nbd (but listening on 127.0.0.1 by default).")
final class ServeCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = {"-r", "--read-only"}, description = "Export read-only.")
  boolean readOnly;

  @Option(names = {"-b", "--bind"}, paramLabel = "ADDR", description = "Interface to listen on (default 127.0.0.1).")
  String bind;

  @Option(names = {"-p", "--port"}, paramLabel = "PORT", description = "TCP port to listen on (default 10809).")
  Integer port;

  @Option(names = {"-k", "--socket"}, paramLabel = "PATH", description = "Listen on a Unix socket instead of TCP.")
  Path socket;

  @Option(names = {"-x", "--export-name"}, paramLabel = "NAME", defaultValue = "", description = "The export name (default empty).")
  String exportName;

  @Option(names = {"-D", "--description"}, paramLabel = "TEXT", description = "A description of the export.")
  String description;

  @Option(names = {"-e", "--shared"}, paramLabel = "NUM", defaultValue = "1",
      description = "Clients allowed at once (default ${DEFAULT-VALUE}; 0 for no limit).")
  int shared;

  @Option(names = {"-t", "--persistent"}, description = "Keep serving after the last client disconnects.")
  boolean persistent;

  @Option(names = {"-f", "--format"}, paramLabel = "FMT", description = "Image format (raw, qcow2); probed when absent.")
  String format;

  @Option(names = {"-v", "--verbose"}, description = "Say where the export is served.")
  boolean verbose;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image to export.")
  Path file;

  @Override
  public Integer call() throws InterruptedException {
    PrintWriter err = spec.commandLine().getErr();
    if (socket != null && (port != null || bind != null)) {
      err.println("qcow4j serve: --socket cannot be combined with --port or --bind");
      return 1;
    }
    if (shared < 0) {
      err.println("qcow4j serve: invalid --shared " + shared + ": it must be 0 (no limit) or more");
      return 1;
    }
    DiskFile disk;
    try {
      OpenOptions options = OpenOptions.readWriteDefaults().withReadOnly(readOnly)
          .withFormat(format == null ? null : ImageFormat.parse(format));
      disk = DiskImages.open(file, options);
    } catch (IOException | RuntimeException e) {
      err.println("qcow4j serve: Failed to open '" + file + "': " + reason(e));
      return 1;
    }
    NbdServer server;
    try {
      NbdServer.Builder builder = NbdServer.builder()
          .disk(disk)
          .exportName(exportName)
          .description(description)
          .readOnly(readOnly)
          .maxClients(shared)
          .persistent(persistent)
          .closeDiskOnStop(true)
          .stopOnShutdown(true);
      if (socket != null) {
        builder.unixSocket(socket);
      } else {
        builder.tcp(bind == null ? "127.0.0.1" : bind, port == null ? NbdServer.DEFAULT_PORT : port);
      }
      server = builder.start();
    } catch (IOException | RuntimeException e) {
      err.println("qcow4j serve: " + e.getMessage());
      closeQuietly(disk);
      return 1;
    }
    if (verbose) {
      err.println("qcow4j serve: serving " + file + " at " + server.uri());
      err.flush();
    }
    server.awaitTermination();
    try {
      server.close();
    } catch (IOException e) {
      err.println("qcow4j serve: closing '" + file + "' failed: " + e.getMessage());
      return 1;
    }
    return 0;
  }

  /** Why an open failed, in qemu's words where the JDK only names the file. */
  private static String reason(Exception failure) {
    return switch (failure) {
      case NoSuchFileException e -> "No such file or directory";
      case AccessDeniedException e -> "Permission denied";
      default -> failure.getMessage();
    };
  }

  private static void closeQuietly(DiskFile disk) {
    try {
      disk.close();
    } catch (IOException e) {
      // Already failing; the first error is the one reported.
    }
  }
}
