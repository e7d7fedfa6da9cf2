package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every command that opens an image, run while a QEMU process holds it (qemu-io or qemu-nbd,
 * read-write or read-only), succeeds or fails as the same QEMU tool's command does: the same exit
 * status, the same lock named, QEMU's hint under it; and a refused command leaves the image as it was.
 */
class LockingCommandTest {
  private static final Pattern REFUSAL = Pattern.compile("Failed to get (shared )?\"[a-z ]+\" lock");

  /** A QEMU process that holds the image while the command runs. */
  enum Holder {
    QEMU_IO_WRITE("qemu-io", "-f", "qcow2"),
    QEMU_IO_READ("qemu-io", "-f", "qcow2", "-r"),
    QEMU_NBD_WRITE("qemu-nbd", "-f", "qcow2", "-t", "-k", "SOCKET"),
    QEMU_NBD_READ("qemu-nbd", "-f", "qcow2", "-r", "-t", "-k", "SOCKET"),
    /** A raw image's server (see {@link #aRawImageTakesOnlyWhatItsUserAsks}). */
    QEMU_NBD_RAW("qemu-nbd", "-f", "raw", "-t", "-k", "SOCKET");

    final List<String> command;

    Holder(String... command) {
      this.command = List.of(command);
    }
  }

  /** QEMU's command and ours: the same arguments after the tool's name. */
  static Stream<Arguments> cases() {
    List<List<String>> commands = List.of(
        List.of("qemu-img", "info", "IMAGE"),
        List.of("qemu-img", "info", "-U", "IMAGE"),
        List.of("qemu-img", "check", "IMAGE"),
        List.of("qemu-img", "check", "-U", "IMAGE"),
        List.of("qemu-img", "map", "--output=json", "IMAGE"),
        List.of("qemu-img", "map", "-U", "--output=json", "IMAGE"),
        List.of("qemu-img", "snapshot", "-l", "IMAGE"),
        List.of("qemu-img", "compare", "IMAGE", "IMAGE"),
        List.of("qemu-img", "compare", "-U", "IMAGE", "IMAGE"),
        List.of("qemu-img", "convert", "-O", "raw", "IMAGE", "OUT"),
        List.of("qemu-img", "convert", "-U", "-O", "raw", "IMAGE", "OUT"),
        List.of("qemu-img", "convert", "-O", "raw", "OTHER", "IMAGE"),
        List.of("qemu-img", "resize", "IMAGE", "+1M"),
        List.of("qemu-img", "amend", "-o", "lazy_refcounts=on", "IMAGE"),
        List.of("qemu-img", "snapshot", "-c", "s1", "IMAGE"),
        List.of("qemu-img", "create", "-f", "qcow2", "IMAGE", "1M"),
        List.of("qemu-img", "bench", "-c", "1", "IMAGE"),
        List.of("qemu-io", "-c", "read 0 512", "IMAGE"),
        List.of("qemu-io", "-r", "-c", "read 0 512", "IMAGE"),
        List.of("qemu-io", "-r", "-U", "-c", "read 0 512", "IMAGE"));
    List<Arguments> cases = new ArrayList<>();
    for (Holder holder : Holder.values()) {
      for (List<String> command : holder == Holder.QEMU_NBD_RAW ? List.<List<String>>of() : commands) {
        cases.add(Arguments.of(holder, command));
      }
    }
    return cases.stream();
  }

  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("cases")
  void aCommandOnAHeldImageEndsAsQemusDoes(Holder holder, List<String> command) throws Exception {
    Path directory = TestImages.scratch();
    Path image = directory.resolve("held.qcow2");
    Qemu.createQcow2(image, "4M");
    Qemu.io(image, "qcow2", "write -P 1 0 64k");
    Path other = directory.resolve("other.raw");
    Files.write(other, new byte[1 << 20]);
    Cli.Result theirs;
    Cli.Result ours;
    String before;
    HeldBy held = HeldBy.start(holder, image, directory.resolve("nbd.sock"));
    try {
      theirs = Qemu.run(substitute(command, image, other, directory.resolve("theirs.out"), false));
      before = digest(image);
      String[] ourCommand = substitute(command, image, other, directory.resolve("ours.out"), true);
      ours = Cli.run(ourCommand);
      if (theirs.exitCode() != 0) {
        assertThat(digest(image)).as("a refused command leaves the image as it was").isEqualTo(before);
      }
    } finally {
      held.close();
    }
    assertThat(ours.exitCode()).as("exit status; ours: %s; theirs: %s", ours.err(), theirs.err())
        .isEqualTo(theirs.exitCode());
    assertThat(refusal(ours.err())).as("the lock named; ours: %s", ours.err()).isEqualTo(refusal(theirs.err()));
    if (refusal(theirs.err()) != null) {
      assertThat(ours.err()).contains("\nIs another process using the image [" + image + "]?");
    }
  }

  /**
   * A raw format takes of its file only what its user asks for (QEMU's raw_child_perm): no resize
   * permission for a write, so a raw image, plain or a window (offset, size) over its file, is
   * written beside a qemu-nbd that forbids resizing it, as QEMU's is.
   */
  @ParameterizedTest
  @ValueSource(strings = {"driver=raw,file.filename=IMAGE", "driver=raw,offset=512,size=1024,file.filename=IMAGE",
      "driver=qcow2,file.filename=IMAGE"})
  void aRawImageTakesOnlyWhatItsUserAsks(String imageOptions) throws Exception {
    Path directory = TestImages.scratch();
    Path image = directory.resolve("held.raw");
    Files.write(image, new byte[1 << 20]);
    String options = imageOptions.replace("IMAGE", image.toString());
    Cli.Result theirs;
    Cli.Result ours;
    try (HeldBy held = HeldBy.start(Holder.QEMU_NBD_RAW, image, directory.resolve("nbd.sock"))) {
      theirs = Qemu.run("qemu-io", "--image-opts", "-c", "write 0 512", options);
      ours = Cli.run("io", "--image-opts", "-c", "write 0 512", options);
    }
    assertThat(ours.exitCode()).as("ours: %s; theirs: %s", ours.err(), theirs.err()).isEqualTo(theirs.exitCode());
    assertThat(refusal(ours.err())).as(ours.err()).isEqualTo(refusal(theirs.err()));
  }

  private static String[] substitute(List<String> command, Path image, Path other, Path out, boolean ours) {
    List<String> result = new ArrayList<>();
    for (int index = 0; index < command.size(); index++) {
      String word = command.get(index);
      if (index == 0 && ours) {
        word = word.equals("qemu-io") ? "io" : null;
        if (word == null) {
          continue;
        }
      }
      result.add(switch (word) {
        case "IMAGE" -> image.toString();
        case "OTHER" -> other.toString();
        case "OUT" -> out.toString();
        default -> word;
      });
    }
    return result.toArray(String[]::new);
  }

  private static String refusal(String stderr) {
    Matcher matcher = REFUSAL.matcher(stderr);
    return matcher.find() ? matcher.group() : null;
  }

  private static String digest(Path file) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
  }

  /** The holding process, started and waited for until the image is open. */
  private static final class HeldBy implements AutoCloseable {
    private final Process process;

    private HeldBy(Process process) {
      this.process = process;
    }

    static HeldBy start(Holder holder, Path image, Path socket) throws IOException, InterruptedException {
      List<String> command = new ArrayList<>();
      for (String word : holder.command) {
        command.add(word.equals("SOCKET") ? socket.toString() : word);
      }
      command.add(image.toString());
      Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
      HeldBy held = new HeldBy(process);
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      if (holder.command.getFirst().equals("qemu-io")) {
        InputStream output = process.getInputStream();
        StringBuilder seen = new StringBuilder();
        while (!seen.toString().contains("qemu-io> ")) {
          int next = output.read();
          if (next < 0 || System.nanoTime() > deadline) {
            held.close();
            throw new AssertionError(command + " did not open the image: " + seen);
          }
          seen.append((char) next);
        }
      } else {
        // the socket may appear before the image is open: wait for its locks too
        while (!Files.exists(socket) || !locked(image)) {
          if (!process.isAlive() || System.nanoTime() > deadline) {
            held.close();
            throw new AssertionError(command + " did not start serving");
          }
          Thread.sleep(10);
        }
      }
      return held;
    }

    /** Whether some process holds a lock on {@code file} (Linux's /proc/locks lists it by inode). */
    private static boolean locked(Path file) throws IOException {
      String inode = ":" + Files.getAttribute(file, "unix:ino") + " ";
      return Files.readAllLines(Path.of("/proc/locks")).stream().anyMatch(line -> line.contains(inode));
    }

    @Override
    public void close() throws IOException {
      process.getOutputStream().close();
      process.destroy();
      try {
        if (!process.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
          process.destroyForcibly().waitFor();
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
  }
}
