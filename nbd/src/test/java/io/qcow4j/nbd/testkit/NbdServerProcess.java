package io.qcow4j.nbd.testkit;

import static org.assertj.core.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** An NBD server in its own process (bin/qcow4j serve or qemu-nbd) on a Unix socket, stopped with SIGKILL. */
public final class NbdServerProcess implements AutoCloseable {
  /** Which program serves the image. */
  public enum Kind {
    QCOW4J, QEMU_NBD
  }

  private static final Duration START_TIMEOUT = Duration.ofSeconds(60);

  private final Kind kind;
  private final Process process;
  private final Path socket;
  private final Path stderr;

  private NbdServerProcess(Kind kind, Process process, Path socket, Path stderr) {
    this.kind = kind;
    this.process = process;
    this.socket = socket;
    this.stderr = stderr;
  }

  /** The bin/qcow4j launcher of this checkout (it builds the jar when it is missing or stale). */
  public static Path qcow4jTool() {
    Path tool = Path.of("..", "bin", "qcow4j").toAbsolutePath().normalize();
    if (!Files.isExecutable(tool)) {
      fail(tool + " is missing");
    }
    return tool;
  }

  /**
   * Starts {@code kind} serving the qcow2 {@code image} read-write to any number of clients, until
   * killed, and waits until its socket accepts connections. {@code extra} goes before the image.
   */
  public static NbdServerProcess start(Kind kind, Path image, Path socket, String... extra) throws IOException {
    List<String> command = new ArrayList<>();
    switch (kind) {
      // qcow4j's trims are the ones under test: passed on, where qemu-nbd's default ignores them
      case QCOW4J -> command.addAll(List.of(qcow4jTool().toString(), "serve", "--discard=unmap"));
      case QEMU_NBD -> {
        // qemu-nbd with its default options, as the issue ran it: TRIM is ignored. (With
        // --discard=unmap, qemu-nbd 7.2 corrupts images, refcount=1 reference=2, when writes, trims
        // and NO_HOLE write-zeroes of one cluster race, even without a kill.)
        Commands.require("qemu-nbd");
        command.add("qemu-nbd");
      }
    }
    command.addAll(List.of("-f", "qcow2", "-t", "-e", "0", "-k", socket.toString()));
    command.addAll(List.of(extra));
    command.add(image.toString());
    Files.deleteIfExists(socket);
    Path stderr = Files.createTempFile(socket.getParent(), "server", ".err");
    Process process = new ProcessBuilder(command)
        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
        .redirectError(stderr.toFile())
        .start();
    NbdServerProcess server = new NbdServerProcess(kind, process, socket, stderr);
    server.awaitListening(String.join(" ", command));
    return server;
  }

  private void awaitListening(String command) throws IOException {
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        fail(command + " exited with " + process.exitValue() + " before listening: " + stderr());
      }
      if (Files.exists(socket)) {
        try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
          probe.connect(UnixDomainSocketAddress.of(socket));
          return;
        } catch (IOException e) {
          // Bound but not yet listening.
        }
      }
      sleep(20);
    }
    process.destroyForcibly();
    fail(command + " did not listen on " + socket + " within " + START_TIMEOUT + ": " + stderr());
  }

  public Kind kind() {
    return kind;
  }

  public UnixDomainSocketAddress address() {
    return UnixDomainSocketAddress.of(socket);
  }

  /** Sends SIGKILL and waits for the process to be gone. */
  public void kill() throws InterruptedException {
    process.destroyForcibly();
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      fail(kind + " survived SIGKILL for 30 s");
    }
  }

  /** Sends SIGTERM, as a user stopping the server would, and waits for the process to end; its exit status. */
  public int terminate() throws InterruptedException {
    process.destroy();
    return awaitExit(Duration.ofSeconds(60));
  }

  /** Waits for the server to end by itself (without -t it ends when its last client leaves); its exit status. */
  public int awaitExit(Duration timeout) throws InterruptedException {
    if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      process.destroyForcibly();
      fail(kind + " did not exit within " + timeout + "; stderr: " + stderr());
    }
    return process.exitValue();
  }

  /** What the server printed on stderr so far. */
  public String stderr() {
    try {
      return Files.readString(stderr);
    } catch (IOException e) {
      return "(stderr unreadable: " + e.getMessage() + ")";
    }
  }

  @Override
  public void close() throws IOException {
    if (process.isAlive()) {
      process.destroyForcibly();
      try {
        process.waitFor(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    Files.deleteIfExists(stderr);
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }
}
