package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * VMDKs over 512 GiB (more grain table entries than one 32 MiB table holds) are made as qemu-img
 * makes them: a 3 TiB image is created with qemu-img's output and file, and a convert into one
 * puts its data where qemu-io reads it back; the grain tables are held only as they are written.
 */
class LargeVmdkWriteTest {
  @ParameterizedTest
  @ValueSource(strings = {"monolithicSparse", "streamOptimized"})
  void threeTebibytesAreCreatedAndWritten(String subformat) {
    SideBySide runs = new SideBySide();
    runs.run("qemu-img", "create", "-f", "vmdk", "-o", "subformat=" + subformat, "@/big.vmdk", "3T").same();
    assertThat(runs.ours.resolve("big.vmdk").toFile().length())
        .isEqualTo(runs.theirs.resolve("big.vmdk").toFile().length());
    assertThat(Qemu.check("qemu-img", "check", runs.ours.resolve("big.vmdk").toString()))
        .contains("No errors were found on the image.");
    Path source = TestImages.scratch().resolve("source.qcow2");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", source.toString(), "3T");
    Qemu.io(source, "qcow2", "write -P 0x11 0 1M", "write -P 0x22 2500G 1M");
    Path target = runs.ours.resolve("converted.vmdk");
    Cli.Result converted = Cli.run("convert", "-O", "vmdk", "-o", "subformat=" + subformat, source.toString(),
        target.toString());
    assertThat(converted.exitCode()).as(converted.err()).isZero();
    Qemu.io(target, "vmdk", "read -P 0x11 0 1M", "read -P 0x22 2500G 1M", "read -P 0 1M 1M",
        "read -P 0 2499G 1G");
    assertThat(Qemu.check("qemu-img", "check", target.toString())).contains("No errors were found on the image.");
  }
}
