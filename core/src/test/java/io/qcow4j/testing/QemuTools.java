package io.qcow4j.testing;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Runs the reference tools (qemu-img, qemu-io) with a timeout and captured output. A missing tool,
 * a timeout or an unexpected exit status fails the test: interop tests never skip silently.
 */
public final class QemuTools {
  /** Generous for the small images the tests make; a hung tool still fails in bounded time. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(120);

  /** What a finished tool run printed and returned. */
  public record Result(List<String> command, int exitCode, String stdout, String stderr) {
    /** The command line, the exit status and both outputs, for failure messages. */
    public String describe() {
      return String.join(" ", command) + "\n  exit status " + exitCode
          + "\n  stdout: " + stdout.strip() + "\n  stderr: " + stderr.strip();
    }
  }

  private static final QemuTools HERE = new QemuTools(null);

  /** Where the tools run, so relative names resolve there; null is this JVM's working directory. */
  private final Path workingDirectory;

  private QemuTools(Path workingDirectory) {
    this.workingDirectory = workingDirectory;
  }

  /** A runner whose tools start in {@code directory}. */
  public static QemuTools in(Path directory) {
    return new QemuTools(directory);
  }

  /** Runs qemu-img in this JVM's working directory and requires exit status 0. */
  public static Result qemuImg(Object... args) {
    return HERE.img(args);
  }

  /** Runs qemu-io in this JVM's working directory and requires exit status 0. */
  public static Result qemuIo(Object... args) {
    return HERE.io(args);
  }

  /** Runs qemu-img and requires exit status 0. */
  public Result img(Object... args) {
    return runChecked(0, "qemu-img", args);
  }

  /** Runs qemu-io and requires exit status 0. */
  public Result io(Object... args) {
    return runChecked(0, "qemu-io", args);
  }

  /** Runs {@code tool} and requires the exit status {@code expectedExit}. */
  public Result runChecked(int expectedExit, String tool, Object... args) {
    Result result = run(DEFAULT_TIMEOUT, tool, args);
    for (int retry = 1; retry < 8 && result.exitCode() != expectedExit && pbkdf2TimingFailed(result); retry++) {
      pause(retry);
      result = run(DEFAULT_TIMEOUT, tool, args);
    }
    if (result.exitCode() != expectedExit) {
      fail("expected exit status " + expectedExit + " from " + result.describe());
    }
    return result;
  }

  /**
   * Whether QEMU refused to make a LUKS header because its PBKDF2 timing saw no CPU time used (it
   * reads the thread's CPU clock in milliseconds, which a busy machine can leave unchanged over a
   * whole round of hashing); another try, a moment later, measures again.
   */
  public static boolean pbkdf2TimingFailed(Result result) {
    return result.exitCode() != 0 && result.stderr().contains("Unable to get accurate CPU usage");
  }

  /** Waits a little longer on each retry of a tool whose timing failed (see {@link #pbkdf2TimingFailed}). */
  public static void pause(int retry) {
    try {
      Thread.sleep(200L * retry);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted while waiting to run a tool again", e);
    }
  }

  /**
   * Runs {@code tool} with {@code args} (each turned into a string; paths as they are) and returns
   * whatever it exits with; fails the test if the tool is missing or outlives {@code timeout}.
   */
  public Result run(Duration timeout, String tool, Object... args) {
    List<String> command = new ArrayList<>();
    command.add(requireTool(tool).toString());
    for (Object arg : args) {
      command.add(String.valueOf(arg));
    }
    ProcessBuilder builder = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
    if (workingDirectory != null) {
      builder.directory(workingDirectory.toFile());
    }
    // Stable, untranslated messages from the tools.
    Map<String, String> environment = builder.environment();
    environment.put("LC_ALL", "C");
    Process process;
    try {
      process = builder.start();
    } catch (IOException e) {
      throw new AssertionError("cannot start " + String.join(" ", command), e);
    }
    try (ExecutorService drains = Executors.newVirtualThreadPerTaskExecutor()) {
      Future<String> stdout = drains.submit(() -> drain(process.getInputStream()));
      Future<String> stderr = drains.submit(() -> drain(process.getErrorStream()));
      if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        process.destroyForcibly();
        process.waitFor();
        fail(String.join(" ", command) + " did not finish within " + timeout);
      }
      return new Result(List.copyOf(command), process.exitValue(), stdout.get(), stderr.get());
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted while running " + String.join(" ", command), e);
    } catch (ExecutionException e) {
      throw new AssertionError("cannot read the output of " + String.join(" ", command), e.getCause());
    }
  }

  /** The path of {@code tool} on the PATH; fails the test, naming the package, when it is missing. */
  public static Path requireTool(String tool) {
    String path = System.getenv("PATH");
    if (path != null) {
      for (String directory : path.split(File.pathSeparator)) {
        Path candidate = Path.of(directory.isEmpty() ? "." : directory, tool);
        if (Files.isExecutable(candidate)) {
          return candidate;
        }
      }
    }
    return fail(tool + " is not installed (not on PATH): the interop tests need it; "
        + "bin/test installs it with apt (package qemu-utils)");
  }

  private static String drain(InputStream stream) {
    try (stream) {
      return new String(stream.readAllBytes(), UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
