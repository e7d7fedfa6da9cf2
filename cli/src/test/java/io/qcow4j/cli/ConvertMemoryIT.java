package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * bin/qcow4j convert within the launcher's memory budget (64 MiB of direct memory): a convert
 * against a backing file (-B), where each chunk in flight holds two buffers, once ran out of
 * direct memory with eight workers (iotest 122).
 */
class ConvertMemoryIT {
  @Test
  void convertWithBackingFileStaysWithinDirectMemory() throws Exception {
    Path dir = Files.createTempDirectory(TestImages.scratch(), "convert-memory");
    Path base = dir.resolve("base.qcow2");
    Path top = dir.resolve("top.qcow2");
    Path out = dir.resolve("out.qcow2");
    Qemu.createQcow2(base, "64M");
    Qemu.io(base, "qcow2", "write -P 0x11 0 60M");
    Qemu.createQcow2(top, null, "-b", base.toString(), "-F", "qcow2");
    Qemu.io(top, "qcow2", "write -P 0x22 0 50M");
    String tool = Path.of("..", "bin", "qcow4j").toAbsolutePath().normalize().toString();
    Cli.Result result = Qemu.run(tool, "convert", "-O", "qcow2", "-B", base.toString(), "-o", "backing_fmt=qcow2",
        top.toString(), out.toString());
    assertThat(result.exitCode()).as(result.err()).isZero();
    assertThat(result.err()).isEmpty();
    assertThat(Qemu.check("qemu-img", "compare", top.toString(), out.toString())).isEqualTo("Images are identical.\n");
  }
}
