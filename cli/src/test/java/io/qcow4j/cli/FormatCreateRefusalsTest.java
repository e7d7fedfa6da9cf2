package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * qemu-img create's refusals for the formats other than qcow2 and raw, side by side with qemu-img
 * 7.2: the file protocol's preallocation under them (a name that is no mode refused before
 * anything is made; metadata refused once the file exists), and the empty file QEMU leaves when
 * the format refuses its options after the file protocol made the file (vpc, vdi, vhdx, qed, qcow
 * create the file first; vmdk checks its own options before).
 */
class FormatCreateRefusalsTest {
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "vpc|preallocation=metadata", "vpc|preallocation=bad", "vpc|preallocation=full", "vpc|subformat=bad",
      "vpc|subformat=bad,preallocation=metadata", "vdi|preallocation=metadata", "vdi|preallocation=bad",
      "vhdx|preallocation=metadata", "vhdx|preallocation=falloc", "vhdx|subformat=bad", "vhdx|block_size=3M",
      "vhdx|log_size=3M,preallocation=metadata", "vmdk|preallocation=metadata", "vmdk|preallocation=bad",
      "vmdk|adapter_type=bad", "vmdk|adapter_type=bad,preallocation=metadata", "vmdk|subformat=bad",
      "qed|cluster_size=3000", "qcow|encryption=on", "qcow|backing_fmt=foo", "vpc|size=3T", "vpc|size=2041G",
      "vpc|subformat=fixed,size=3T"})
  void refusesAsQemuImgAndLeavesTheSameFile(String format, String options) throws IOException {
    SideBySide runs = new SideBySide();
    if (options.contains("size=")) {
      runs.run("qemu-img", "create", "-f", format, "-o", options, "@/disk." + format).same();
    } else {
      runs.run("qemu-img", "create", "-f", format, "-o", options, "@/disk." + format, "1M").same();
    }
    Path theirs = runs.theirs.resolve("disk." + format);
    Path ours = runs.ours.resolve("disk." + format);
    assertThat(Files.exists(ours)).as("file made").isEqualTo(Files.exists(theirs));
    if (Files.exists(theirs) && Files.size(theirs) == 0) {
      assertThat(Files.size(ours)).isZero();
    }
  }
}
