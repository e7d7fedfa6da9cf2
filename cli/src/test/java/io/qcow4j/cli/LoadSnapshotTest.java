package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Reading an image as one of its internal snapshots (qemu-img convert and measure -l, qemu-nbd -l)
 * against qemu-img: the same bytes, the same sizes, the same refusals.
 */
class LoadSnapshotTest {
  private static Path directory;
  private static Path image;

  @BeforeAll
  static void image() {
    directory = TestImages.scratch();
    image = directory.resolve("snaps.qcow2");
    // a snapshot of 2 MiB with two patterns, then the image grows and changes under it
    Qemu.createQcow2(image, "2M", "-o", "cluster_size=64k");
    Qemu.io(image, "qcow2", "write -P 1 0 64k", "write -P 2 1M 96k");
    Qemu.check("qemu-img", "snapshot", "-c", "first", image.toString());
    Qemu.io(image, "qcow2", "write -P 3 0 128k", "discard 1M 64k");
    Qemu.check("qemu-img", "snapshot", "-c", "second", image.toString());
    Qemu.check("qemu-img", "resize", image.toString(), "3M");
    Qemu.io(image, "qcow2", "write -P 4 2M 64k");
  }

  @ParameterizedTest
  @ValueSource(strings = {"1", "first", "2", "second", "snapshot.id=1", "snapshot.name=second",
      "snapshot.id=2,snapshot.name=second"})
  void convertReadsTheSnapshotAsQemuImgDoes(String parameter) throws IOException {
    Path ours = directory.resolve("ours-" + parameter.hashCode() + ".raw");
    Path theirs = directory.resolve("theirs-" + parameter.hashCode() + ".raw");
    Qemu.check("qemu-img", "convert", "-l", parameter, "-O", "raw", image.toString(), theirs.toString());
    Cli.Result result = Cli.run("convert", "-l", parameter, "-O", "raw", image.toString(), ours.toString());
    assertThat(result.exitCode()).as(result.err()).isZero();
    assertThat(Files.readAllBytes(ours)).isEqualTo(Files.readAllBytes(theirs));
    Cli.Result measured = Cli.run("measure", "-l", parameter, "-O", "qcow2", image.toString());
    assertThat(measured.out()).isEqualTo(Qemu.check("qemu-img", "measure", "-l", parameter, "-O", "qcow2",
        image.toString()));
  }

  @ParameterizedTest
  @ValueSource(strings = {"nosuch", "3", "snapshot.id=1,snapshot.name=second", "snapshot.name=nosuch"})
  void aSnapshotNotThereIsRefusedAsQemuImgRefusesIt(String parameter) {
    Path target = directory.resolve("never.raw");
    Cli.Result theirs = Qemu.run("qemu-img", "convert", "-l", parameter, "-O", "raw", image.toString(),
        target.toString());
    Cli.Result ours = Cli.run("convert", "-l", parameter, "-O", "raw", image.toString(), target.toString());
    assertThat(theirs.exitCode()).isEqualTo(1);
    assertThat(ours.exitCode()).isEqualTo(theirs.exitCode());
    assertThat(ours.err().replace("qcow4j:", "qemu-img:")).isEqualTo(theirs.err());
  }

  @ParameterizedTest
  @ValueSource(strings = {"first", "snapshot.id=1"})
  void aRawImageHasNoSnapshotToLoad(String parameter) {
    Path raw = directory.resolve("plain.raw");
    Qemu.check("qemu-img", "create", "-q", "-f", "raw", raw.toString(), "1M");
    List<String> command = List.of("convert", "-f", "raw", "-l", parameter, "-O", "raw", raw.toString(),
        directory.resolve("never.raw").toString());
    Cli.Result theirs = Qemu.run(java.util.stream.Stream.concat(java.util.stream.Stream.of("qemu-img"),
        command.stream()).toArray(String[]::new));
    Cli.Result ours = Cli.run(command.toArray(String[]::new));
    assertThat(ours.exitCode()).isEqualTo(theirs.exitCode()).isEqualTo(1);
    assertThat(ours.err().replace("qcow4j:", "qemu-img:")).isEqualTo(theirs.err());
  }
}
