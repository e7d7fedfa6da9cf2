package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * VHDX images qemu-img creates, written by qemu-io with patterns, zeros and holes: info prints what
 * qemu-img prints (probed or named), convert to raw and qcow2 reads the bytes qemu-img reads, and
 * each serves as a qcow2 backing file.
 */
class VhdxCommandsTest {
  private static final String[] WRITES = {
      "write -P 0x5a 1M 64k", "write -P 0x11 5M 3M", "write -z 20M 64k", "write -P 0x22 4095k 2k",
      "write -P 0x33 63M 512"};

  static Stream<String> options() {
    return Stream.of("subformat=dynamic", "subformat=dynamic,block_size=1M,log_size=2M", "subformat=fixed",
        "subformat=fixed,block_size=32M", "block_state_zero=off");
  }

  private static Path image(Path dir, String options) {
    Path image = dir.resolve("image.vhdx");
    Qemu.check("qemu-img", "create", "-q", "-f", "vhdx", "-o", options, image.toString(), "64M");
    Qemu.io(image, "vhdx", WRITES);
    return image;
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("options")
  void infoPrintsWhatQemuImgPrints(String options) {
    Path image = image(TestImages.scratch(), options);
    String name = image.toString();
    for (List<String> command : List.of(List.of("info", name), List.of("info", "-f", "vhdx", name),
        List.of("info", "--output=json", name), List.of("check", name))) {
      assertSame(command);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("options")
  void convertReadsTheBytesQemuImgReads(String options) throws IOException {
    Path dir = TestImages.scratch();
    Path image = image(dir, options);
    Path theirs = dir.resolve("theirs.raw");
    Path ours = dir.resolve("ours.raw");
    Qemu.check("qemu-img", "convert", "-O", "raw", image.toString(), theirs.toString());
    Cli.Result converted = Cli.run("convert", "-O", "raw", image.toString(), ours.toString());
    assertThat(converted.exitCode()).as(converted.err()).isZero();
    assertThat(Files.mismatch(theirs, ours)).as("first differing byte").isEqualTo(-1);

    Path qcow2 = dir.resolve("ours.qcow2");
    Cli.Result toQcow2 = Cli.run("convert", "-O", "qcow2", image.toString(), qcow2.toString());
    assertThat(toQcow2.exitCode()).as(toQcow2.err()).isZero();
    assertThat(Qemu.run("qemu-img", "compare", "-f", "vhdx", "-F", "qcow2", image.toString(),
        qcow2.toString()).out()).isEqualTo("Images are identical.\n");
    Cli.Result compared = Cli.run("compare", "-f", "vhdx", "-F", "raw", image.toString(), theirs.toString());
    assertThat(compared.out()).as(compared.err()).isEqualTo("Images are identical.\n");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("options")
  void servesAsAQcow2BackingFile(String options) throws IOException {
    Path dir = TestImages.scratch();
    Path image = image(dir, options);
    Path top = dir.resolve("top.qcow2");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", "-b", image.getFileName().toString(), "-F", "vhdx",
        top.toString());
    Qemu.io(top, "qcow2", "write -P 0x77 5M 4k", "write -z 1M 4k");
    assertSame(List.of("info", "--backing-chain", top.toString()));
    Path theirs = dir.resolve("theirs.raw");
    Path ours = dir.resolve("ours.raw");
    Qemu.check("qemu-img", "convert", "-O", "raw", top.toString(), theirs.toString());
    Cli.Result converted = Cli.run("convert", "-O", "raw", top.toString(), ours.toString());
    assertThat(converted.exitCode()).as(converted.err()).isZero();
    assertThat(Files.mismatch(theirs, ours)).as("first differing byte").isEqualTo(-1);
  }

  private static void assertSame(List<String> command) {
    List<String> qemu = new ArrayList<>(List.of("qemu-img"));
    qemu.addAll(command);
    Cli.Result theirs = Qemu.run(qemu.toArray(String[]::new));
    Cli.Result ours = Cli.run(command.toArray(String[]::new));
    assertThat(ours.err()).as("stderr of " + command).isEqualTo(theirs.err());
    assertThat(ours.out()).as("stdout of " + command).isEqualTo(theirs.out());
    assertThat(ours.exitCode()).as("exit status of " + command).isEqualTo(theirs.exitCode());
  }
}
