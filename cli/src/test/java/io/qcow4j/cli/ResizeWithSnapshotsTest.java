package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Resizes and compat changes of images with internal snapshots, side by side with qemu-img (iotest
 * 061's "resize with snapshots"): a version 2 image with snapshots keeps its size, an upgrade then
 * resize records the old size in the snapshots, a version 3 image shrinks, a downgrade is refused
 * while a snapshot has another disk size (after the resize, as QEMU's), and each image reads back
 * the same through qemu-img.
 */
class ResizeWithSnapshotsTest {
  @Test
  void resizeAndCompatWithSnapshotsDoWhatQemuImgDoes() throws IOException {
    Path source = TestImages.scratch().resolve("t.qcow2");
    Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10", source.toString(), "32M");
    Qemu.io(source, "qcow2", "write -P 0x2a 24M 64k");
    Qemu.check("qemu-img", "snapshot", "-c", "foo", source.toString());
    SideBySide runs = new SideBySide().copy(source, "t.qcow2");
    runs.run("qemu-img", "resize", "@/t.qcow2", "64M").same();
    sameInfo(runs);
    runs.run("qemu-img", "amend", "-o", "compat=1.1,size=128M", "@/t.qcow2").same();
    sameInfo(runs);
    runs.run("qemu-img", "snapshot", "-c", "bar", "@/t.qcow2").same();
    runs.run("qemu-img", "resize", "--shrink", "@/t.qcow2", "64M").same();
    sameInfo(runs);
    runs.run("qemu-img", "amend", "-o", "compat=0.10,size=32M", "@/t.qcow2").same();
    sameInfo(runs);
    runs.run("qemu-img", "snapshot", "-a", "bar", "@/t.qcow2").same();
    sameInfo(runs);
    runs.run("qemu-img", "snapshot", "-d", "bar", "@/t.qcow2").same();
    runs.run("qemu-img", "amend", "-o", "compat=0.10,size=32M", "@/t.qcow2").same();
    sameInfo(runs);
    // the same clusters in use, though not in the same places
    assertThat(Qemu.check("qemu-img", "check", runs.ours.resolve("t.qcow2").toString()))
        .startsWith("No errors were found on the image.\n1/512 = 0.20% allocated");
  }

  /** qemu-img info of both images, but for the file's name, its allocation and the snapshots' dates. */
  private static void sameInfo(SideBySide runs) {
    assertThat(info(runs.ours.resolve("t.qcow2"))).isEqualTo(info(runs.theirs.resolve("t.qcow2")));
  }

  private static String info(Path image) {
    return Qemu.check("qemu-img", "info", image.toString()).replace(image.toString(), "IMG")
        .replaceAll("(?m)^disk size: .*$", "")
        .replaceAll("\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d", "DATE");
  }
}
