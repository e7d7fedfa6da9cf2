package io.qcow4j.cli;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * qemu-nbd's --fork and --pid-file. A JVM cannot fork, so the server starts itself again: the
 * parent runs the same command line as a detached child (its own session, stdin and stdout on
 * /dev/null) whose stderr is a pipe back to the parent. The parent copies what arrives there to its
 * own stderr until the pipe closes, which the child does once it listens (or by exiting when it
 * fails), and exits with 0 when nothing came through, else 1: qemu-nbd's parent does the same.
 */
final class ServeDaemon {
  /** Set in the child's environment: it is the daemon, and its --fork was done. */
  static final String CHILD_VARIABLE = "QCOW4J_SERVE_DAEMON";

  private ServeDaemon() {}

  /** Whether this process is the child a --fork started. */
  static boolean isChild() {
    return System.getenv(CHILD_VARIABLE) != null;
  }

  /**
   * The parent's side of --fork: starts the child and relays its stderr until the child closes
   * it; the exit status of the parent.
   */
  static int forkAndWait(PrintWriter err, boolean activated) {
    List<String> command = ownCommandLine();
    ProcessBuilder builder = new ProcessBuilder(command)
        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
        .redirectError(ProcessBuilder.Redirect.PIPE);
    builder.environment().put(CHILD_VARIABLE, "1");
    Process child;
    try {
      if (activated) {
        SocketActivation.handToChild(builder);
      }
      child = builder.start();
    } catch (IOException e) {
      err.println(QemuErrors.PREFIX + "Failed to fork: " + Failures.reason(e, null));
      err.flush();
      return 1;
    }
    err.flush();
    boolean errors = false;
    byte[] buffer = new byte[1024];
    OutputStream stderr = new java.io.FileOutputStream(java.io.FileDescriptor.err);
    try (InputStream pipe = child.getErrorStream()) {
      for (int count = pipe.read(buffer); count > 0; count = pipe.read(buffer)) {
        errors = true;
        stderr.write(buffer, 0, count);
        stderr.flush();
      }
    } catch (IOException e) {
      err.println(QemuErrors.PREFIX + "Cannot read from daemon: " + Failures.reason(e, null));
      err.flush();
      return 1;
    }
    // the daemon usually prints nothing: a message means it failed to start
    return errors ? 1 : 0;
  }

  /**
   * The child's side once it serves: its stderr becomes /dev/null (the JDK, asked to close one of
   * the three standard descriptors, puts /dev/null in its place), which the parent sees as the
   * end of the pipe.
   */
  static void detach(PrintWriter err) {
    err.flush();
    PrintStream standardError = System.err;
    standardError.flush();
    standardError.close();
  }

  /**
   * The same command this JVM runs: java, its options and the jar or class with the arguments,
   * and before it setsid when there is one (the daemon leaves the caller's session and process
   * group, as daemon(3) does).
   */
  private static List<String> ownCommandLine() {
    ProcessHandle.Info info = ProcessHandle.current().info();
    Optional<String> java = info.command();
    Optional<String[]> arguments = info.arguments();
    if (java.isEmpty() || arguments.isEmpty()) {
      throw new CommandFailure("Failed to fork: cannot read this process's command line", 1);
    }
    List<String> command = new ArrayList<>();
    for (String setsid : new String[] {"/usr/bin/setsid", "/bin/setsid"}) {
      if (Files.isExecutable(Path.of(setsid))) {
        command.add(setsid);
        break;
      }
    }
    command.add(java.get());
    command.addAll(List.of(arguments.get()));
    return command;
  }

  /**
   * Writes this process's id to {@code path} and keeps a write lock on it for the life of the
   * process, as qemu_write_pidfile does; the failure as QEMU words it.
   */
  static void writePidFile(String path) {
    Path file = Path.of(path);
    FileChannel channel;
    try {
      channel = FileChannel.open(file, java.util.Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE),
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    } catch (IOException e) {
      throw new CommandFailure("Could not create '" + path + "': " + Failures.reason(e, path), 1, e);
    }
    try {
      FileLock lock;
      try {
        lock = channel.tryLock();
      } catch (OverlappingFileLockException e) {
        lock = null;
      }
      if (lock == null) {
        throw new CommandFailure("Cannot lock pid file: Resource temporarily unavailable", 1);
      }
      channel.truncate(0);
      ByteBuffer text = ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII));
      while (text.hasRemaining()) {
        channel.write(text);
      }
      // the channel stays open, and with it the lock, until the process ends
      HELD.add(channel);
    } catch (IOException e) {
      closeQuietly(channel);
      try {
        Files.deleteIfExists(file);
      } catch (IOException ignored) {
        // the first failure is the one reported
      }
      throw new CommandFailure("Failed to write pid file", 1, e);
    } catch (CommandFailure e) {
      closeQuietly(channel);
      throw e;
    }
  }

  private static final List<FileChannel> HELD = new ArrayList<>();

  private static void closeQuietly(FileChannel channel) {
    try {
      channel.close();
    } catch (IOException e) {
      // the first failure is the one reported
    }
  }
}
