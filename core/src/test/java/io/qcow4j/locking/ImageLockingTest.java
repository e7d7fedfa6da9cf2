package io.qcow4j.locking;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.CreateOptions;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.ImageLockedException;
import io.qcow4j.disk.Locking;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.disk.Permission;
import io.qcow4j.testing.QemuTools;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Image locks against QEMU's: for each pair of a holder (an open that stays) and a prober (an open
 * tried while the holder is open), read-write, read-only and read-only with force-share, on the
 * image itself, its backing file, its external data file and a raw image, the outcome between a
 * qemu-io holder and a qemu-io prober is the reference; qcow4j as the prober, as the holder, and as
 * both must give the same outcome, down to the lock named in the refusal. A refused open leaves the
 * file's bytes as they were.
 */
class ImageLockingTest {
  private static final Pattern REFUSAL = Pattern.compile("Failed to get (shared )?\"[a-z ]+\" lock");

  @TempDir
  Path directory;

  /** How an open uses the image, as qemu-io's flags say it. */
  enum Mode {
    READ_WRITE(List.of()),
    READ_ONLY(List.of("-r")),
    FORCE_SHARE(List.of("-r", "-U"));

    final List<String> qemuIoFlags;

    Mode(List<String> qemuIoFlags) {
      this.qemuIoFlags = qemuIoFlags;
    }

    /** qemu-io's open: every permission shared with others, as far as the format allows. */
    OpenOptions options(ImageFormat format) {
      return OpenOptions.readOnlyDefaults().withReadOnly(this != READ_WRITE)
          .withForceShare(this == FORCE_SHARE).withFormat(format)
          .withSharedPermissions(EnumSet.allOf(Permission.class));
    }
  }

  /** A file that a holder opens and a file that a prober opens, each with its format. */
  record Target(String name, String held, ImageFormat heldFormat, String probed, ImageFormat probedFormat) {
    @Override
    public String toString() {
      return name;
    }
  }

  static Stream<Arguments> cases() {
    List<Target> targets = List.of(
        new Target("image", "top.qcow2", ImageFormat.QCOW2, "top.qcow2", ImageFormat.QCOW2),
        new Target("backing file below the holder", "top.qcow2", ImageFormat.QCOW2, "base.qcow2", ImageFormat.QCOW2),
        new Target("image above the holder", "base.qcow2", ImageFormat.QCOW2, "top.qcow2", ImageFormat.QCOW2),
        new Target("data file of the holder", "data-image.qcow2", ImageFormat.QCOW2, "data.raw", ImageFormat.RAW),
        new Target("image of the held data file", "data.raw", ImageFormat.RAW, "data-image.qcow2", ImageFormat.QCOW2),
        new Target("raw image", "disk.raw", ImageFormat.RAW, "disk.raw", ImageFormat.RAW));
    List<Arguments> cases = new ArrayList<>();
    for (Target target : targets) {
      for (Mode holder : Mode.values()) {
        for (Mode prober : Mode.values()) {
          cases.add(Arguments.of(target, holder, prober));
        }
      }
    }
    return cases.stream();
  }

  @BeforeEach
  void images() {
    QemuTools tools = QemuTools.in(directory);
    tools.img("create", "-q", "-f", "qcow2", "base.qcow2", "1M");
    tools.img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");
    // named absolutely: a relative data file name is opened from the working directory (QEMU's way)
    tools.img("create", "-q", "-f", "qcow2", "-o", "data_file=" + directory.resolve("data.raw"), "data-image.qcow2", "1M");
    tools.img("create", "-q", "-f", "raw", "disk.raw", "1M");
  }

  @ParameterizedTest(name = "{0}: holder {1}, prober {2}")
  @MethodSource("cases")
  @SuppressWarnings("try") // the resources are held open, not used
  void everyProbeEndsAsBetweenTwoQemuProcesses(Target target, Mode holder, Mode prober) throws Exception {
    String expected;
    try (QemuHolder held = QemuHolder.start(directory, target, holder)) {
      expected = qemuProbe(target, prober);
      assertThat(ourProbe(target, prober)).as("qcow4j probing while qemu-io holds").isEqualTo(expected);
    }
    try (DiskFile held = DiskImages.open(directory.resolve(target.held()), holder.options(target.heldFormat()))) {
      assertThat(qemuProbe(target, prober)).as("qemu-io probing while qcow4j holds").isEqualTo(expected);
      assertThat(ourProbe(target, prober)).as("qcow4j probing while qcow4j holds").isEqualTo(expected);
    }
  }

  @Test
  void twoWritersExcludeEachOtherAndTheRefusedOneChangesNothing() throws Exception {
    Path image = directory.resolve("top.qcow2");
    try (DiskFile writer = DiskImages.open(image, OpenOptions.readWriteDefaults())) {
      writer.writeFully(ByteBuffer.wrap(new byte[] {1, 2, 3}), 0);
      writer.force(false);
      String before = digest(image);
      assertThatThrownBy(() -> DiskImages.open(image, OpenOptions.readWriteDefaults()))
          .isInstanceOfSatisfying(ImageLockedException.class, refused -> {
            assertThat(refused.getMessage()).isEqualTo("Failed to get \"write\" lock");
            assertThat(refused.file()).isEqualTo(image);
            assertThat(refused.hint()).isEqualTo("Is another process using the image [" + image + "]?");
          });
      assertThatThrownBy(() -> DiskImages.create(image, ImageFormat.QCOW2, CreateOptions.of(1 << 20)))
          .isInstanceOf(ImageLockedException.class);
      assertThat(digest(image)).isEqualTo(before);
    }
    DiskImages.open(image, OpenOptions.readWriteDefaults()).close();
  }

  @Test
  @SuppressWarnings("try") // the resources are held open, not used
  void creatingOverAnImageQemuHoldsIsRefusedAndLeavesItWhole() throws Exception {
    Path image = directory.resolve("top.qcow2");
    String before = digest(image);
    String qemuRefusal;
    try (QemuHolder held = QemuHolder.start(directory, new Target("image", "top.qcow2", ImageFormat.QCOW2,
        "top.qcow2", ImageFormat.QCOW2), Mode.READ_WRITE)) {
      qemuRefusal = refusal(QemuTools.in(directory).run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "create", "-q",
          "-f", "qcow2", "top.qcow2", "1M").stderr());
      assertThatThrownBy(() -> DiskImages.create(image, ImageFormat.QCOW2, CreateOptions.of(1 << 20)))
          .isInstanceOf(ImageLockedException.class).hasMessage(qemuRefusal);
      assertThatThrownBy(() -> DiskImages.create(image, ImageFormat.RAW, CreateOptions.of(1 << 20)))
          .isInstanceOf(ImageLockedException.class).hasMessage(qemuRefusal);
    }
    assertThat(qemuRefusal).isEqualTo("Failed to get \"write\" lock");
    assertThat(digest(image)).isEqualTo(before);
  }

  @Test
  @SuppressWarnings("try") // the resources are held open, not used
  void resizingARawImageQemuNbdServesIsRefusedAsQemuImgRefusesItAndTheAttemptLeavesNoLock() throws Exception {
    Path image = directory.resolve("disk.raw");
    Path socket = directory.resolve("nbd.sock");
    OpenOptions qemuIoLike = Mode.READ_WRITE.options(ImageFormat.RAW);
    try (DiskFile ours = DiskImages.open(image, qemuIoLike)) {
      String qemuRefusal;
      try (QemuNbd server = QemuNbd.serve(directory, socket, image)) {
        qemuRefusal = refusal(QemuTools.in(directory).run(QemuTools.DEFAULT_TIMEOUT, "qemu-img", "resize", "-f", "raw",
            "disk.raw", "2M").stderr());
        assertThatThrownBy(() -> ours.resize(2 << 20)).isInstanceOf(ImageLockedException.class).hasMessage(qemuRefusal);
      }
      assertThat(qemuRefusal).isEqualTo("Failed to get \"resize\" lock");
      assertThat(Files.size(image)).isEqualTo(1 << 20);
      // the refused attempt released the resize byte: qemu-nbd, which does not share resizing, starts
      try (QemuNbd server = QemuNbd.serve(directory, socket, image)) {
        assertThat(server.isAlive()).isTrue();
      }
    }
  }

  @Test
  @SuppressWarnings("try") // the resources are held open, not used
  void lockingOffNeitherTakesNorTestsLocks() throws Exception {
    Path image = directory.resolve("top.qcow2");
    OpenOptions unlocked = OpenOptions.readWriteDefaults().withLocking(Locking.OFF);
    try (DiskFile first = DiskImages.open(image, OpenOptions.readWriteDefaults());
        DiskFile second = DiskImages.open(image, unlocked)) {
      assertThat(second.isReadOnly()).isFalse();
    }
    try (DiskFile unlockedWriter = DiskImages.open(image, unlocked);
        DiskFile lockedWriter = DiskImages.open(image, OpenOptions.readWriteDefaults())) {
      assertThat(lockedWriter.isReadOnly()).isFalse();
    }
  }

  @Test
  void forceShareIsRefusedOnAReadWriteOpen() {
    assertThatThrownBy(() -> DiskImages.open(directory.resolve("top.qcow2"),
        OpenOptions.readWriteDefaults().withForceShare(true)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("force-share=on can only be used with read-only images");
  }

  /** "ok" or the lock qemu-io names when it refuses the open. */
  private String qemuProbe(Target target, Mode prober) {
    List<Object> args = new ArrayList<>(List.of("-f", target.probedFormat().id()));
    args.addAll(prober.qemuIoFlags);
    args.addAll(List.of("-c", "quit", target.probed()));
    QemuTools.Result result = QemuTools.in(directory).run(QemuTools.DEFAULT_TIMEOUT, "qemu-io", args.toArray());
    if (result.exitCode() == 0) {
      return "ok";
    }
    return refusal(result.stderr());
  }

  /** "ok" or the message of the lock conflict that refused qcow4j's open. */
  @SuppressWarnings("try") // the open is the probe
  private String ourProbe(Target target, Mode prober) throws IOException {
    Path probed = directory.resolve(target.probed());
    String before = digest(probed);
    try (DiskFile ignored = DiskImages.open(probed, prober.options(target.probedFormat()))) {
      return "ok";
    } catch (ImageLockedException e) {
      assertThat(digest(probed)).as("a refused open changes nothing").isEqualTo(before);
      return e.getMessage();
    }
  }

  private static String refusal(String stderr) {
    Matcher matcher = REFUSAL.matcher(stderr);
    assertThat(matcher.find()).as("a lock refusal in: %s", stderr).isTrue();
    return matcher.group();
  }

  private static String digest(Path file) throws IOException {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }

  /** A qemu-nbd process serving a raw image on a Unix socket until closed. */
  private static final class QemuNbd implements AutoCloseable {
    private final Process process;

    private QemuNbd(Process process) {
      this.process = process;
    }

    static QemuNbd serve(Path directory, Path socket, Path image) throws IOException, InterruptedException {
      Files.deleteIfExists(socket);
      Process process = new ProcessBuilder(QemuTools.requireTool("qemu-nbd").toString(), "-f", "raw", "-t", "-k",
          socket.toString(), image.toString()).directory(directory.toFile()).redirectErrorStream(true).start();
      QemuNbd server = new QemuNbd(process);
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (!Files.exists(socket)) {
        if (!process.isAlive() || System.nanoTime() > deadline) {
          String output = new String(process.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
          server.close();
          throw new AssertionError("qemu-nbd did not start serving " + image + ": " + output);
        }
        Thread.sleep(10);
      }
      return server;
    }

    boolean isAlive() {
      return process.isAlive();
    }

    @Override
    public void close() throws IOException {
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

  /** A qemu-io process holding an image open until closed: its prompt says the open is done. */
  private static final class QemuHolder implements AutoCloseable {
    private final Process process;

    private QemuHolder(Process process) {
      this.process = process;
    }

    static QemuHolder start(Path directory, Target target, Mode mode) throws IOException {
      List<String> command = new ArrayList<>(List.of(QemuTools.requireTool("qemu-io").toString(), "-f",
          target.heldFormat().id()));
      command.addAll(mode.qemuIoFlags);
      command.add(target.held());
      ProcessBuilder builder = new ProcessBuilder(command).directory(directory.toFile()).redirectErrorStream(true);
      builder.environment().put("LC_ALL", "C");
      QemuHolder holder = new QemuHolder(builder.start());
      holder.awaitPrompt(command);
      return holder;
    }

    private void awaitPrompt(List<String> command) throws IOException {
      InputStream output = process.getInputStream();
      StringBuilder seen = new StringBuilder();
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (!seen.toString().contains("qemu-io> ")) {
        int next = output.read();
        if (next < 0 || System.nanoTime() > deadline) {
          close();
          throw new AssertionError(String.join(" ", command) + " did not open the image: " + seen);
        }
        seen.append((char) next);
      }
    }

    @Override
    public void close() throws IOException {
      process.getOutputStream().close();
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
