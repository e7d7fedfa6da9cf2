package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.nbd.NbdServer;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** qemu-nbd: export an image over NBD until the last client leaves (or, with -t, until stopped). */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    versionProvider = PicocliCommands.Version.class,
    description = "Export an image over the NBD protocol, like qemu-nbd (but listening on 127.0.0.1 by default).")
final class ServeCommand implements Callable<Integer> {
  @Spec CommandSpec spec;
  @Mixin CommonOptions common;

  @Option(names = {"-r", "--read-only"}, description = "Export read-only.")
  boolean readOnly;

  @Option(names = {"-b", "--bind"}, paramLabel = "ADDR", description = "Interface to listen on (default 127.0.0.1).")
  String bind;

  @Option(names = {"-p", "--port"}, paramLabel = "PORT", description = "TCP port to listen on (default 10809).")
  Integer port;

  @Option(names = {"-k", "--socket"}, paramLabel = "PATH", description = "Listen on a Unix socket instead of TCP.")
  String socket;

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

  @Option(names = {"-l", "--load-snapshot"}, paramLabel = "SNAPSHOT_PARAM",
      description = "An internal snapshot to export read-only (snapshot.id=ID,snapshot.name=NAME or ID_OR_NAME).")
  String snapshot;

  @Mixin ImageOptsOption imageOpts;
  @Mixin ObjectOption objects;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image to export.")
  String file;

  @Override
  public Integer call() throws InterruptedException {
    Secrets secrets = ImageArguments.secrets(objects.definitions, spec.commandLine().getOut());
    if (secrets == null) {
      return 0;
    }
    ImageArguments.checkSnapshotParameter(snapshot);
    if (socket != null && (port != null || bind != null)) {
      throw new CommandFailure("serve: --socket cannot be combined with --port or --bind", 1);
    }
    if (shared < 0) {
      throw new CommandFailure("serve: invalid --shared " + shared + ": it must be 0 (no limit) or more", 1);
    }
    try (ServerLog log = ServerLog.install(spec.commandLine().getErr(), debug())) {
      return serve(secrets);
    }
  }

  /** --debug given after the command name or before it. */
  private boolean debug() {
    return common.debug || spec.parent() != null && spec.parent().userObject() instanceof PicocliCommands main && main.debug;
  }

  private int serve(Secrets secrets) throws InterruptedException {
    ImageSpec image = ImageArguments.spec(file, imageOpts.enabled, format, false, ImageArguments.Tool.QEMU_NBD,
        spec.commandLine().getErr());
    // qemu-nbd lets others do anything with the image but resize it under its clients
    // a loaded snapshot is exported read-only, as qemu-nbd exports it
    boolean exportReadOnly = readOnly || snapshot != null;
    DiskFile disk = ImageArguments.open(image, OpenOptions.readWriteDefaults().withReadOnly(exportReadOnly)
        .withSharedPermissions(ImageArguments.SHARE_ALL_BUT_RESIZE)
        .withSnapshot(ImageArguments.snapshotSelector(snapshot)), secrets, spec.commandLine().getErr());
    NbdServer server;
    try {
      NbdServer.Builder builder = NbdServer.builder()
          .disk(disk)
          .exportName(exportName)
          .description(description)
          .readOnly(exportReadOnly)
          .maxClients(shared)
          .persistent(persistent)
          .closeDiskOnStop(true)
          .stopOnShutdown(true);
      if (socket != null) {
        builder.unixSocket(Path.of(socket));
      } else {
        builder.tcp(bind == null ? "127.0.0.1" : bind, port == null ? NbdServer.DEFAULT_PORT : port);
      }
      server = builder.start();
    } catch (IOException | RuntimeException e) {
      closeQuietly(disk);
      throw new CommandFailure("serve: " + Failures.reason(e, null), 1, e);
    }
    if (verbose) {
      spec.commandLine().getErr().println("qcow4j: serving " + file + " at " + server.uri());
      spec.commandLine().getErr().flush();
    }
    // Ends when the last client leaves (without -t), or when a signal runs the server's shutdown
    // hook, which flushes and closes the image.
    server.awaitTermination();
    try {
      server.close();
    } catch (IOException e) {
      throw new CommandFailure("serve: closing '" + file + "' failed: " + Failures.reason(e, file), 1, e);
    }
    return 0;
  }

  private static void closeQuietly(DiskFile disk) {
    try {
      disk.close();
    } catch (IOException e) {
      // Already failing; the first error is the one reported.
    }
  }
}
