package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * amend of an external data file's name and raw flag, side by side with qemu-img and qemu-io
 * (iotest 061): another name is recorded (and then looked for), an empty one removes it (the image
 * then needs a data-file option), data_file_raw=off clears the flag and =on stays refused.
 */
class AmendDataFileTest {
  @Test
  void dataFileNameAndRawFlagChangeAsInQemuImg() {
    SideBySide runs = new SideBySide();
    runs.run("qemu-img", "create", "-f", "qcow2", "-o", "compat=1.1,data_file=@/t.data,data_file_raw=on", "@/t.qcow2",
        "64M").same();
    runs.run("qemu-img", "amend", "-o", "data_file_raw=on", "@/t.qcow2").same();
    runs.run("qemu-img", "amend", "-o", "data_file_raw=off", "@/t.qcow2").same();
    sameInfo(runs.run("qemu-img", "info", "@/t.qcow2"));
    runs.run("qemu-img", "amend", "-o", "data_file_raw=on", "@/t.qcow2").same();
    runs.run("qemu-img", "amend", "-o", "data_file=@/other.data", "@/t.qcow2").same();
    runs.run("qemu-io", "-c", "read 0 4k", "@/t.qcow2").same();
    runs.run("qemu-img", "amend", "-o", "data_file=", "--image-opts",
        "data-file.filename=@/t.data,file.filename=@/t.qcow2").same();
    runs.run("qemu-io", "-c", "read 0 4k", "@/t.qcow2").same();
    sameInfo(runs.run("qemu-img", "info", "--image-opts", "data-file.filename=@/t.data,file.filename=@/t.qcow2"));
  }

  /** The same info but for the disk size (the raw data files' allocations differ). */
  private static void sameInfo(SideBySide.Runs info) {
    assertThat(info.ours().exitCode()).isEqualTo(info.theirs().exitCode());
    assertThat(info.ours().err()).isEqualTo(info.theirs().err());
    assertThat(info.ours().out().replaceAll("(?m)^disk size: .*$", ""))
        .isEqualTo(info.theirs().out().replaceAll("(?m)^disk size: .*$", ""));
  }
}
