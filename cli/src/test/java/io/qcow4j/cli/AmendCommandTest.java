package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
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

  private static String formatFacts(Path image) {
    String json = Qemu.check("qemu-img", "info", "--output=json", image.toString());
    return json.replaceAll("\"(filename|actual-size)\": [^,\\n]*,?", "").replaceAll("\\s+", "");
  }
}
