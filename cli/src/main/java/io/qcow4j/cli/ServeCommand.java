package io.qcow4j.cli;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.nbd.NbdServer;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.Secrets;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

/** qemu-nbd: export an image over NBD until the last client leaves (or, with -t, until stopped). */
final class ServeCommand implements Callable<Integer> {
  /** Values of qemu-nbd's long options without a letter. */
  private static final int CACHE = 300;
  private static final int AIO = 301;
  private static final int DISCARD = 302;
  private static final int DETECT_ZEROES = 303;
  private static final int TLS_CREDS = 304;
  private static final int TLS_HOSTNAME = 305;
  private static final int TLS_AUTHZ = 306;
  private static final int FORK = 307;
  private static final int PID_FILE = 308;
  private static final int SELINUX_LABEL = 309;

  private final PrintWriter out;
  private final PrintWriter err;
  private boolean debug;
  boolean readOnly;
  boolean allocationDepth;
  /** The -B bitmaps, last first, as qemu-nbd's QAPI_LIST_PREPEND leaves them. */
  final List<String> bitmaps = new java.util.ArrayList<>();
  String bind;
  Integer port;
  String socket;
  String exportName = "";
  String description;
  int shared = 1;
  boolean persistent;
  String format;
  boolean verbose;
  String snapshot;
  boolean imageOpts;
  final List<String> objects = new ArrayList<>();
  String file;
  boolean fork;
  String pidFile;
  /** --discard=unmap: trims free space; qemu-nbd's default ignores them. */
  boolean unmap;
  /** -c and --selinux-label, refused once qemu-nbd's checks before theirs have passed. */
  String device;
  String selinuxLabel;
  /** LISTEN_FDS sockets were handed to this process (qemu-nbd's socket activation). */
  boolean activated;
  /** -L: list the exports of another server instead of serving. */
  boolean list;
  boolean exportNameGiven;

  private ServeCommand(Invocation invocation) {
    this.out = invocation.out();
    this.err = invocation.err();
  }

  /**
   * Parses the words as qemu-nbd's main does (argv[0] the program's name), then serves; the exit
   * status. Of its options, the cache and AIO modes are checked and change nothing (qcow4j goes
   * through the page cache), -T is read; --discard ignores trims (the default) or passes them on
   * (unmap); --fork and --pid-file are {@link ServeDaemon}'s; those for what qcow4j's server does
   * not do (-c, -d, -s, -o, TLS, --selinux-label) are refused by name. -L lists another server's
   * exports ({@link ExportListing}).
   */
  static int main(Invocation invocation) {
    ServeCommand command = new ServeCommand(invocation);
    boolean seenCache = false;
    boolean seenAio = false;
    boolean seenDiscard = false;
    Getopt getopt = invocation.getopt("hVb:o:p:rsnc:dvk:e:f:tl:x:T:D:AB:L", List.of(
        Getopt.LongOption.flag("help", 'h'),
        Getopt.LongOption.flag("version", 'V'),
        Getopt.LongOption.withArgument("bind", 'b'),
        Getopt.LongOption.withArgument("port", 'p'),
        Getopt.LongOption.withArgument("socket", 'k'),
        Getopt.LongOption.withArgument("offset", 'o'),
        Getopt.LongOption.flag("read-only", 'r'),
        Getopt.LongOption.flag("allocation-depth", 'A'),
        Getopt.LongOption.withArgument("bitmap", 'B'),
        Getopt.LongOption.withArgument("connect", 'c'),
        Getopt.LongOption.flag("disconnect", 'd'),
        Getopt.LongOption.flag("list", 'L'),
        Getopt.LongOption.flag("snapshot", 's'),
        Getopt.LongOption.withArgument("load-snapshot", 'l'),
        Getopt.LongOption.flag("nocache", 'n'),
        Getopt.LongOption.withArgument("cache", CACHE),
        Getopt.LongOption.withArgument("aio", AIO),
        Getopt.LongOption.withArgument("discard", DISCARD),
        Getopt.LongOption.withArgument("detect-zeroes", DETECT_ZEROES),
        Getopt.LongOption.withArgument("shared", 'e'),
        Getopt.LongOption.withArgument("format", 'f'),
        Getopt.LongOption.flag("persistent", 't'),
        Getopt.LongOption.flag("verbose", 'v'),
        Getopt.LongOption.withArgument("object", Invocation.OBJECT),
        Getopt.LongOption.withArgument("export-name", 'x'),
        Getopt.LongOption.withArgument("description", 'D'),
        Getopt.LongOption.withArgument("tls-creds", TLS_CREDS),
        Getopt.LongOption.withArgument("tls-hostname", TLS_HOSTNAME),
        Getopt.LongOption.withArgument("tls-authz", TLS_AUTHZ),
        Getopt.LongOption.flag("image-opts", Invocation.IMAGE_OPTS),
        Getopt.LongOption.withArgument("trace", 'T'),
        Getopt.LongOption.flag("fork", FORK),
        Getopt.LongOption.withArgument("pid-file", PID_FILE),
        Getopt.LongOption.withArgument("selinux-label", SELINUX_LABEL)));
    for (int option = getopt.next(); option != Getopt.END; option = getopt.next()) {
      String argument = getopt.optarg();
      switch (option) {
        case 'n', CACHE -> {
          if (seenCache) {
            return invocation.error("-n and --cache can only be specified once");
          }
          seenCache = true;
          String mode = option == 'n' ? "none" : argument;
          if (!CacheMode.valid(mode)) {
            return invocation.error("Invalid cache mode `" + mode + "'");
          }
        }
        case AIO -> {
          if (seenAio) {
            return invocation.error("--aio can only be specified once");
          }
          seenAio = true;
          if (!Set.of("threads", "native", "io_uring").contains(argument)) {
            return invocation.error("Invalid aio mode '" + argument + "'");
          }
        }
        case DISCARD -> {
          if (seenDiscard) {
            return invocation.error("--discard can only be specified once");
          }
          seenDiscard = true;
          if (!Set.of("ignore", "off", "unmap", "on").contains(argument)) {
            return invocation.error("Invalid discard mode `" + argument + "'");
          }
          command.unmap = argument.equals("unmap") || argument.equals("on");
        }
        case DETECT_ZEROES -> {
          if (!argument.equals("off")) {
            return invocation.error("--detect-zeroes " + argument + " is not supported");
          }
        }
        case 'b' -> command.bind = argument;
        case 'p' -> {
          try {
            command.port = Integer.parseInt(argument);
          } catch (NumberFormatException e) {
            return invocation.error("Invalid port '" + argument + "'");
          }
        }
        case 'l' -> {
          command.snapshot = argument;
          // a loaded snapshot is exported read-only
          command.readOnly = true;
        }
        case 'r' -> command.readOnly = true;
        case 'A' -> command.allocationDepth = true;
        case 'B' -> command.bitmaps.addFirst(argument);
        case 'k' -> {
          if (!argument.startsWith("/")) {
            return invocation.error("socket path must be absolute");
          }
          command.socket = argument;
        }
        case 'e' -> {
          Long shared = QemuNumbers.parseCInteger(argument);
          if (shared == null || shared < 0 || shared > Integer.MAX_VALUE) {
            return invocation.error("Invalid shared device number '" + argument + "'");
          }
          command.shared = shared.intValue();
        }
        case 'f' -> command.format = argument;
        case 't' -> command.persistent = true;
        case 'x' -> {
          command.exportName = argument;
          command.exportNameGiven = true;
        }
        case 'L' -> command.list = true;
        case 'c' -> command.device = argument;
        case SELINUX_LABEL -> command.selinuxLabel = argument;
        case 'D' -> command.description = argument;
        case 'v' -> command.verbose = true;
        case 'T' -> { }
        case 'V' -> {
          invocation.out().print(invocation.program().versionText());
          return 0;
        }
        case 'h' -> {
          invocation.out().print(HelpText.qemuNbd(invocation.name()));
          return 0;
        }
        case Invocation.OBJECT -> {
          if (!invocation.defineObject(command.objects, argument)) {
            return invocation.objectStatus(1);
          }
        }
        case Invocation.IMAGE_OPTS -> command.imageOpts = true;
        case FORK -> command.fork = true;
        case PID_FILE -> command.pidFile = argument;
        case Invocation.DEBUG -> invocation.commonOption(getopt, option);
        case Getopt.UNKNOWN -> {
          return invocation.error("Try `" + invocation.name() + " --help' for more information.");
        }
        default -> {
          return invocation.error(optionName(option) + " is not supported by qcow4j");
        }
      }
    }
    List<String> operands = getopt.operands();
    if (command.list) {
      if (!operands.isEmpty()) {
        return invocation.error("List mode is incompatible with a file name");
      }
      if (command.exportNameGiven || command.description != null || command.format != null
          || command.snapshot != null || !command.bitmaps.isEmpty() || command.allocationDepth || seenAio
          || command.device != null
          || seenDiscard || seenCache) {
        return invocation.error("List mode is incompatible with per-device settings");
      }
      if (command.fork) {
        return invocation.error("List mode is incompatible with forking");
      }
      if (command.checkActivation(invocation) != 0 || command.refuseUnsupported(invocation) != 0) {
        return 1;
      }
      return ExportListing.list(command.socket, command.bind, command.port, invocation);
    }
    if (operands.size() != 1) {
      invocation.error("Invalid number of arguments");
      invocation.err().println("Try `" + invocation.name() + " --help' for more information.");
      return 1;
    }
    command.file = operands.getFirst();
    if (command.checkActivation(invocation) != 0 || command.refuseUnsupported(invocation) != 0) {
      return 1;
    }
    command.debug = invocation.debug();
    return invocation.execute(command);
  }

  /**
   * qemu-nbd's check of socket activation, after its operands and before TLS: each handed
   * descriptor open, no other place to listen named, one socket only; 0, or 1 once refused.
   */
  private int checkActivation(Invocation invocation) {
    long count;
    try {
      count = SocketActivation.check();
    } catch (CommandFailure e) {
      return invocation.error(e.getMessage());
    }
    activated = count > 0 || SocketActivation.isForkChild();
    if (count == 0) {
      return 0;
    }
    String refusal = SocketActivation.refusal(device, socket, bind, port, selinuxLabel, list);
    if (refusal != null) {
      return invocation.error(refusal);
    }
    if (count > 1) {
      return invocation.error("qemu-nbd does not support socket activation with LISTEN_FDS > 1");
    }
    return 0;
  }

  /** -c and --selinux-label, which qcow4j does not do, refused after socket activation's checks. */
  private int refuseUnsupported(Invocation invocation) {
    if (device != null) {
      return invocation.error("-c is not supported by qcow4j");
    }
    if (selinuxLabel != null) {
      return invocation.error("--selinux-label is not supported by qcow4j");
    }
    return 0;
  }

  /** How the command line names an option qcow4j refuses. */
  private static String optionName(int option) {
    return switch (option) {
      case TLS_CREDS -> "--tls-creds";
      case TLS_HOSTNAME -> "--tls-hostname";
      case TLS_AUTHZ -> "--tls-authz";
      case FORK -> "--fork";
      case PID_FILE -> "--pid-file";
      case SELINUX_LABEL -> "--selinux-label";
      default -> "-" + (char) option;
    };
  }

  @Override
  public Integer call() throws InterruptedException {
    Secrets secrets = ImageArguments.secrets(objects, out);
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
    if (fork && !ServeDaemon.isChild()) {
      // qemu-nbd forks once its options are checked, before it listens or opens the image
      return ServeDaemon.forkAndWait(err, activated);
    }
    try (ServerLog log = ServerLog.install(err, debug())) {
      return serve(secrets);
    }
  }

  /** --debug given after the command name or before it. */
  private boolean debug() {
    return debug;
  }

  private int serve(Secrets secrets) throws InterruptedException {
    // qemu-nbd takes the activated socket before it opens the image
    SocketActivation activation = activated ? SocketActivation.adopt(ServeDaemon.isChild()) : null;
    try {
      return serve(secrets, activation);
    } finally {
      if (activation != null) {
        activation.restoreStandardStreams();
      }
    }
  }

  private int serve(Secrets secrets, SocketActivation activation) throws InterruptedException {
    // qemu-nbd lets others do anything with the image but resize it under its clients
    // a loaded snapshot is exported read-only, as qemu-nbd exports it
    boolean exportReadOnly = readOnly || snapshot != null;
    DiskFile disk;
    try {
      ImageSpec image = ImageArguments.spec(file, imageOpts, format, false, ImageArguments.Tool.QEMU_NBD, err);
      disk = ImageArguments.open(image, OpenOptions.readWriteDefaults().withReadOnly(exportReadOnly)
          .withSharedPermissions(ImageArguments.SHARE_ALL_BUT_RESIZE)
          .withSnapshot(ImageArguments.snapshotSelector(snapshot)), secrets, err);
    } catch (CommandFailure e) {
      throw openFailure(e);
    }
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
          .stopOnShutdown(true)
          .unmap(unmap)
          .allocationDepth(allocationDepth);
      for (String bitmap : bitmaps) {
        builder.dirtyBitmap(exportedBitmap(disk, bitmap));
      }
      if (activation != null) {
        builder.listening(activation.channel(), activation::restoreStandardStreams);
      } else if (socket != null) {
        builder.unixSocket(Path.of(socket));
      } else {
        builder.tcp(bind == null ? "127.0.0.1" : bind, port == null ? NbdServer.DEFAULT_PORT : port);
      }
      server = builder.start();
    } catch (io.qcow4j.disk.BitmapException e) {
      closeQuietly(disk);
      // qemu-nbd prints the reason without QEMU's hint line
      throw new CommandFailure(e.getMessage(), 1);
    } catch (IOException | RuntimeException e) {
      closeQuietly(disk);
      throw listenFailure(e);
    }
    if (pidFile != null) {
      try {
        ServeDaemon.writePidFile(pidFile);
      } catch (CommandFailure e) {
        closeQuietly(server);
        throw e;
      }
    }
    if (fork) {
      // listening: the parent may go, and with it the pipe this process's stderr was
      ServeDaemon.detach(err);
    } else if (verbose && Program.current() == Program.QCOW4J) {
      err.println(QemuErrors.PREFIX + "serving " + file + " at " + server.uri());
      err.flush();
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

  /**
   * qemu-nbd's words for an image it cannot open: "Failed to blk_new_open 'FILE': " and the
   * reason QEMU's open gave (what qemu-img prints after "Could not open 'NAME': ").
   */
  private CommandFailure openFailure(CommandFailure failure) {
    String message = failure.getMessage();
    String couldNotOpen = "Could not open '";
    if (message.startsWith(couldNotOpen)) {
      int end = message.indexOf("': ");
      if (end > 0) {
        message = message.substring(end + 3);
      }
      if (failure.getCause() instanceof java.nio.file.FileSystemException missing && !message.startsWith(couldNotOpen)) {
        // QEMU's file driver names the file it could not open
        String which = missing.getFile() != null ? missing.getFile() : file;
        message = couldNotOpen + which + "': " + message;
      }
      return new CommandFailure("Failed to blk_new_open '" + file + "': " + message, failure.exitCode(),
          failure.getCause() != null ? failure.getCause() : failure);
    }
    return failure;
  }

  /** qemu-nbd's words for a socket it cannot listen on. */
  private CommandFailure listenFailure(Exception failure) {
    Throwable cause = failure.getCause() != null ? failure.getCause() : failure;
    if (failure instanceof IOException) {
      String reason = Failures.reason(cause, null);
      return new CommandFailure(socket != null ? "Failed to bind socket to " + socket + ": " + reason
          : "Failed to find an available port: " + reason, 1, failure);
    }
    return new CommandFailure("serve: " + Failures.reason(failure, null), 1, failure);
  }

  private static void closeQuietly(NbdServer server) {
    try {
      server.close();
    } catch (IOException e) {
      // Already failing; the first error is the one reported.
    }
  }

  /**
   * The bitmap -B names, found as qemu-nbd finds it: in the image, else in its backing chain; an
   * inconsistent one is refused with QEMU's message and hint.
   */
  private static NbdServer.ExportedBitmap exportedBitmap(DiskFile disk, String name) throws IOException {
    for (DiskFile layer = disk; layer != null; layer = layer.backing().orElse(null)) {
      if (layer instanceof io.qcow4j.qcow2.QcowFile image) {
        for (io.qcow4j.disk.DirtyBitmap bitmap : image.dirtyBitmaps()) {
          if (bitmap.name().equals(name)) {
            if (!bitmap.consistent()) {
              // the same refusal as the library's, with QEMU's hint
              image.dirtyRanges(name, 0, 0);
            }
            return new NbdServer.ExportedBitmap(name, (offset, length) -> image.dirtyRanges(name, offset, length));
          }
        }
      }
    }
    throw new io.qcow4j.disk.BitmapException("Bitmap '" + name + "' is not found");
  }

  private static void closeQuietly(DiskFile disk) {
    try {
      disk.close();
    } catch (IOException e) {
      // Already failing; the first error is the one reported.
    }
  }
}
