package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** amend against qemu-img amend on copies of the same image: same header facts, same data, clean check. */
class AmendCommandTest {
  @TempDir Path dir;

  private Path sample(String name, String... createOptions) {
    Path image = dir.resolve(name);
    Qemu.createQcow2(image, "64M", createOptions);
    Qemu.io(image, "qcow2", "write -P 0x11 0 3M", "write -z 1M 128k", "write -P 0x22 10M 100k", "write -z 20M 1M",
        "discard 2M 64k");
    return image;
  }

  @ParameterizedTest
  @ValueSource(strings = {"compat=0.10", "refcount_bits=1", "refcount_bits=64", "lazy_refcounts=on",
      "refcount_bits=8,lazy_refcounts=on", "size=128M"})
  void amendsLikeQemu(String options) throws Exception {
    Path ours = sample("ours.qcow2");
    Path theirs = dir.resolve("theirs.qcow2");
    Files.copy(ours, theirs, StandardCopyOption.REPLACE_EXISTING);
    Path original = dir.resolve("original.qcow2");
    Files.copy(ours, original, StandardCopyOption.REPLACE_EXISTING);

    Cli.Result result = Cli.run("amend", "-o", options, ours.toString());
    assertThat(result.exitCode()).as(result.err()).isZero();
    Qemu.check("qemu-img", "amend", "-o", options, theirs.toString());

    assertThat(Qemu.check("qemu-img", "check", ours.toString())).contains("No errors were found");
    assertThat(Qemu.check("qemu-img", "compare", ours.toString(), theirs.toString())).contains("identical");
    assertThat(Qemu.run("qemu-img", "compare", ours.toString(), original.toString()).out()).contains("identical");
    assertThat(formatFacts(ours)).isEqualTo(formatFacts(theirs));
  }

  @Test
  void upgradeAfterDowngradeKeepsData() {
    Path image = sample("cycle.qcow2");
    Path copy = dir.resolve("copy.qcow2");
    Qemu.check("qemu-img", "convert", "-O", "qcow2", image.toString(), copy.toString());
    assertThat(Cli.run("amend", "-o", "compat=0.10", image.toString()).exitCode()).isZero();
    assertThat(Cli.run("amend", "-o", "compat=1.1", image.toString()).exitCode()).isZero();
    assertThat(Qemu.check("qemu-img", "check", image.toString())).contains("No errors were found");
    assertThat(Qemu.check("qemu-img", "compare", image.toString(), copy.toString())).contains("identical");
  }

  @ParameterizedTest
  @ValueSource(strings = {"cluster_size=4096", "compression_type=zstd", "backing_file=x", "foo=1", "refcount_bits=3",
      "compat=2"})
  void refusesWhatQemuRefuses(String options) {
    Path image = sample("refused.qcow2");
    Cli.Result qemu = Qemu.run("qemu-img", "amend", "-o", options, image.toString());
    Cli.Result result = Cli.run("amend", "-o", options, image.toString());
    assertThat(qemu.exitCode()).isNotZero();
    assertThat(result.exitCode()).isEqualTo(qemu.exitCode());
    assertThat(result.err()).isEqualTo(qemu.err().replaceAll("(?m)^qemu-img: ", "qcow4j: ")
        .replace("'qemu-img rebase'", "'qcow4j rebase'"));
  }

  @Test
  void refusesDowngradeOfExtendedL2() {
    Path image = sample("ext.qcow2", "-o", "extended_l2=on");
    Cli.Result result = Cli.run("amend", "-o", "compat=0.10", image.toString());
    assertThat(result.exitCode()).isEqualTo(1);
    assertThat(result.err()).contains("Cannot downgrade an image with incompatible features 0x10 set");
  }

  /**
   * A downgrade that meets an unaligned L2 table offset (the L1 entry at 0x30000) or an unaligned
   * preallocated zero cluster (the L2 entry at 0x40000), as iotest 060 makes them: the corruption
   * signalled and the amend failed as qemu-img's, nothing zeroed outside the image's clusters
   * (the file the same bytes as qemu-img leaves, the corrupt bit set).
   */
  @ParameterizedTest
  @CsvSource({"196608,8000000000042a00", "262144,8000000000052a01"})
  void downgradeMeetingAnUnalignedOffsetFailsAsQemu(long patchOffset, String entry) throws Exception {
    Path ours = dir.resolve("unaligned.qcow2");
    Qemu.createQcow2(ours, "64M");
    Qemu.io(ours, "qcow2", "write 0 64k");
    try (java.nio.channels.FileChannel file = java.nio.channels.FileChannel.open(ours,
        java.nio.file.StandardOpenOption.WRITE)) {
      file.write(java.nio.ByteBuffer.allocate(8).putLong(0, Long.parseUnsignedLong(entry, 16)), patchOffset);
    }
    Path theirs = dir.resolve("theirs.qcow2");
    Files.copy(ours, theirs, StandardCopyOption.REPLACE_EXISTING);

    Cli.Result qemu = Qemu.run("qemu-img", "amend", "-o", "compat=0.10", theirs.toString());
    Cli.Result result = Cli.run("amend", "-o", "compat=0.10", ours.toString());
    assertThat(qemu.exitCode()).isEqualTo(1);
    assertThat(result.exitCode()).isEqualTo(qemu.exitCode());
    assertThat(result.err()).isEqualTo(qemu.err().replaceAll("(?m)^qemu-img: ", "qcow4j: "));
    assertThat(result.err()).startsWith("qcow2: Marking image as corrupt: ")
        .endsWith("qcow4j: Failed to turn zero into data clusters: Input/output error\n");
    assertThat(ours).hasSameBinaryContentAs(theirs);
  }

  private static String formatFacts(Path image) {
    String json = Qemu.check("qemu-img", "info", "--output=json", image.toString());
    return json.replaceAll("\"(filename|actual-size)\": [^,\\n]*,?", "").replaceAll("\\s+", "");
  }
}
