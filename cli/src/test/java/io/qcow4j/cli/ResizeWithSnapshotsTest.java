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

  /**
   * compat=0.10 expands the zero clusters of every snapshot's tree too (qcow2_expand_zero_clusters):
   * with and without a backing file, plain and allocated zero clusters, an L2 table shared by the
   * active tree; every snapshot then reads as qemu-img's copy does and the image checks clean.
   */
  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
  void downgradeExpandsTheSnapshotsZeroClusters(boolean backing) throws IOException {
    Path dir = TestImages.scratch();
    Path source = dir.resolve("t.qcow2");
    if (backing) {
      Path base = dir.resolve("base.qcow2");
      Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", base.toString(), "8M");
      Qemu.io(base, "qcow2", "write -P 0x11 0 8M");
      Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", "qcow2", source.toString(),
          "8M");
    } else {
      Qemu.check("qemu-img", "create", "-q", "-f", "qcow2", source.toString(), "8M");
    }
    Qemu.io(source, "qcow2", "write -P 0x22 0 256k", "write -z 64k 64k", "write -z 1M 128k", "write -z -u 128k 64k");
    Qemu.check("qemu-img", "snapshot", "-c", "one", source.toString());
    Qemu.io(source, "qcow2", "write -z 2M 64k", "write -P 0x33 1M 64k");
    Qemu.check("qemu-img", "snapshot", "-c", "two", source.toString());
    Qemu.io(source, "qcow2", "write -P 0x44 64k 64k");
    SideBySide runs = new SideBySide().copy(source, "t.qcow2");
    if (backing) {
      runs.copy(dir.resolve("base.qcow2"), "base.qcow2");
    }
    runs.run("qemu-img", "amend", "-o", "compat=0.10", "@/t.qcow2").same();
    sameInfo(runs);
    assertThat(Qemu.check("qemu-img", "check", runs.ours.resolve("t.qcow2").toString()))
        .startsWith("No errors were found on the image.");
    for (String snapshot : new String[] {"one", "two"}) {
      runs.run("qemu-img", "convert", "-l", snapshot, "-O", "raw", "@/t.qcow2", "@/" + snapshot + ".raw").same();
      assertThat(Qemu.check("qemu-img", "compare", "-f", "raw", "-F", "raw",
          runs.ours.resolve(snapshot + ".raw").toString(), runs.theirs.resolve(snapshot + ".raw").toString()))
          .isEqualTo("Images are identical.\n");
    }
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
