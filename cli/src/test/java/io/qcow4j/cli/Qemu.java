package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs the real QEMU tools (qemu-img, qemu-io) that the command line is compared with. A missing
 * tool fails the test: bin/test installs qemu-utils.
 */
final class Qemu {
  /**
   * The threads that drain the tools' stdout and stderr, two per process at once: the common pool
   * has one thread on a two-core machine, and a tool that fills the stderr pipe (check listing
   * thousands of errors) while that thread waits for the end of its stdout never ends.
   */
  private static final java.util.concurrent.ExecutorService DRAINERS =
      java.util.concurrent.Executors.newCachedThreadPool(runnable -> {
        Thread thread = new Thread(runnable, "qemu-output");
        thread.setDaemon(true);
        return thread;
      });

  private Qemu() {}

  /** Runs {@code command} (e.g. "qemu-img", "info", ...) and returns what it printed and its status. */
  static Cli.Result run(String... command) {
    try {
      Process process = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
      CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> drain(process.getInputStream()), DRAINERS);
      CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> drain(process.getErrorStream()), DRAINERS);
      if (!process.waitFor(120, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        fail(String.join(" ", command) + " did not finish in 120 s");
      }
      return new Cli.Result(process.exitValue(), out.join(), err.join());
    } catch (IOException e) {
      return fail(command[0] + " is required for this test and could not be run (bin/test installs qemu-utils): " + e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return fail("interrupted");
    }
  }

  /**
   * Runs {@code command} with {@code input} as its standard input; {@code merged}: stderr goes
   * into stdout as one stream (as a shell's 2>&1 puts it), so the order of the two shows.
   */
  static Cli.Result runWithInput(String input, boolean merged, String... command) {
    try {
      Process process = new ProcessBuilder(command).redirectErrorStream(merged).start();
      CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> drain(process.getInputStream()), DRAINERS);
      CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> drain(process.getErrorStream()), DRAINERS);
      try (java.io.OutputStream stdin = process.getOutputStream()) {
        stdin.write(input.getBytes(StandardCharsets.UTF_8));
      }
      if (!process.waitFor(120, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        fail(String.join(" ", command) + " did not finish in 120 s");
      }
      return new Cli.Result(process.exitValue(), out.join(), err.join());
    } catch (IOException e) {
      return fail(command[0] + " could not be run: " + e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return fail("interrupted");
    }
  }

  /** Runs the command and fails the test unless it exits 0; returns its stdout. */
  static String check(String... command) {
    Cli.Result result = run(command);
    // QEMU times PBKDF2 by the thread's CPU clock in milliseconds, which a busy machine can leave
    // unchanged over a round; it then refuses to make a LUKS header. A later try measures again.
    for (int retry = 1; retry < 8 && result.exitCode() != 0
        && result.err().contains("Unable to get accurate CPU usage"); retry++) {
      try {
        Thread.sleep(200L * retry);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return fail("interrupted");
      }
      result = run(command);
    }
    if (result.exitCode() != 0) {
      fail(String.join(" ", command) + " failed with status " + result.exitCode() + ": " + result.err());
    }
    return result.out();
  }

  /** qemu-img create -f qcow2 with extra arguments. */
  static void createQcow2(Path image, String size, String... options) {
    List<String> command = new ArrayList<>(List.of("qemu-img", "create", "-q", "-f", "qcow2"));
    command.addAll(List.of(options));
    command.add(image.toString());
    if (size != null) {
      command.add(size);
    }
    check(command.toArray(String[]::new));
  }

  /** qemu-io -c for each command, on an image of the given format. */
  static void io(Path image, String format, String... commands) {
    List<String> command = new ArrayList<>(List.of("qemu-io", "-f", format));
    for (String each : commands) {
      command.add("-c");
      command.add(each);
    }
    command.add(image.toString());
    check(command.toArray(String[]::new));
  }

  private static String drain(java.io.InputStream stream) {
    try (stream) {
      return new String(stream.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
