package io.qcow4j.nbd.testkit;

import static org.assertj.core.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs an installed tool (qemu-img, qemu-io, ...) with a deadline; a missing tool fails the test, never skips it. */
public final class Commands {
  /** What a finished run printed, and its exit status. */
  public record Result(List<String> command, int exitCode, String out, String err) {
    /** Fails the test unless the command exited 0. */
    public Result assertSuccess() {
      if (exitCode != 0) {
        fail(String.join(" ", command) + " exited with " + exitCode + "\nstdout: " + out + "\nstderr: " + err);
      }
      return this;
    }

    public String all() {
      return out + err;
    }
  }

  private Commands() {}

  /** Runs {@code command}, failing the test if it is not installed or does not finish within {@code timeout}. */
  public static Result run(Duration timeout, String... command) throws IOException, InterruptedException {
    require(command[0]);
    Path out = Files.createTempFile("command", ".out");
    Path err = Files.createTempFile("command", ".err");
    try {
      Process process = new ProcessBuilder(command)
          .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
          .redirectOutput(out.toFile())
          .redirectError(err.toFile())
          .start();
      if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        fail(String.join(" ", command) + " did not finish within " + timeout + "\nstdout: "
            + Files.readString(out) + "\nstderr: " + Files.readString(err));
      }
      return new Result(List.of(command), process.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
          Files.readString(err, StandardCharsets.UTF_8));
    } finally {
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
    }
  }

  /** {@link #run(Duration, String...)} with two minutes to finish. */
  public static Result run(String... command) throws IOException, InterruptedException {
    return run(Duration.ofMinutes(2), command);
  }

  /** Runs {@code command} and fails the test unless it exits 0. */
  public static Result check(String... command) throws IOException, InterruptedException {
    return run(command).assertSuccess();
  }

  /** Fails (never skips) when {@code name} is not on the PATH. */
  public static void require(String name) {
    if (name.contains("/")) {
      return;
    }
    String path = System.getenv().getOrDefault("PATH", "");
    for (String directory : path.split(File.pathSeparator)) {
      if (Files.isExecutable(Path.of(directory, name))) {
        return;
      }
    }
    fail(name + " is not installed (bin/test installs qemu-utils and libnbd-bin); this test needs it");
  }
}
