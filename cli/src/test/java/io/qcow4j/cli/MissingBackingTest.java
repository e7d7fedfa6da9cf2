package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A backing file that is missing is named as QEMU names it: "Could not open backing file: Could not open 'BASE': ...". */
class MissingBackingTest {
  @Test
  void commandsNameTheMissingBackingFile() throws Exception {
    Path dir = Files.createTempDirectory(TestImages.scratch(), "missing-backing");
    Path base = dir.resolve("base.qcow2");
    Path overlay = dir.resolve("overlay.qcow2");
    Qemu.createQcow2(base, "1M");
    Qemu.createQcow2(overlay, null, "-b", base.toString(), "-F", "qcow2");
    Files.delete(base);
    String out = dir.resolve("out.raw").toString();
    for (List<String> args : List.of(List.of("convert", "-O", "raw", overlay.toString(), out),
        List.of("map", overlay.toString()), List.of("compare", overlay.toString(), overlay.toString()),
        List.of("convert", "-O", "raw", "json:{\"file.filename\":\"" + overlay + "\"}", out))) {
      Cli.Result ours = Cli.run(args.toArray(String[]::new));
      List<String> qemu = new java.util.ArrayList<>(List.of("qemu-img"));
      qemu.addAll(args);
      Cli.Result theirs = Qemu.run(qemu.toArray(String[]::new));
      assertThat(ours.exitCode()).as(String.join(" ", args)).isEqualTo(theirs.exitCode()).isNotZero();
      assertThat(ours.err()).as(String.join(" ", args)).isEqualTo(theirs.err().replace("qemu-img: ", "qcow4j: "));
    }
  }
}
