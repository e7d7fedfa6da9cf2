package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** qcow4j snapshot against qemu-img snapshot: listings, messages, and round trips of images between the two. */
class SnapshotCommandTest {

  @Test
  void listsExactlyLikeQemuImg() {
    Path image = TestImages.scratch().resolve("s.qcow2");
    Qemu.createQcow2(image, "1M");
    Qemu.check("qemu-img", "snapshot", "-c", "first", image.toString());
    Qemu.check("qemu-img", "snapshot", "-c", "a-name-longer-than-its-column", image.toString());
    Qemu.check("qemu-img", "snapshot", "-c", "", image.toString());
    assertThat(Cli.run("snapshot", "-l", image.toString()).out())
        .isEqualTo(Qemu.check("qemu-img", "snapshot", "-l", image.toString()));
    assertThat(Cli.run("snapshot", "-l", TestImages.path("top.qcow2").toString()).out())
        .isEqualTo(Qemu.check("qemu-img", "snapshot", "-l", TestImages.path("top.qcow2").toString()));
  }

  /** Command lines after "snapshot" run on copies of one image with snapshots 1 "s1" and 2 "s2". */
  @ParameterizedTest
  @ValueSource(strings = {
      "-l @/x.qcow2", "-a nope @/x.qcow2", "-d nope @/x.qcow2", "-d 2 @/x.qcow2", "-a 2 @/x.qcow2", "-a s1 @/x.qcow2",
      "-d s1 @/x.qcow2", "@/x.qcow2", "-l -c a @/x.qcow2", "-l -l @/x.qcow2", "-c s -c t @/x.qcow2", "-q -c q1 @/x.qcow2",
      "-c s1 @/x.qcow2", "-l @/x.qcow2 @/x.qcow2", "-l", "-l @/raw",
  })
  void behavesLikeQemuImg(String arguments) throws java.io.IOException {
    Path image = TestImages.scratch().resolve("x.qcow2");
    Qemu.createQcow2(image, "1M");
    Qemu.check("qemu-img", "snapshot", "-c", "s1", image.toString());
    Qemu.check("qemu-img", "snapshot", "-c", "s2", image.toString());
    SideBySide both = new SideBySide().copy(image, "x.qcow2").copy(TestImages.path("full.raw"), "raw");
    both.run("qemu-img", ("snapshot " + arguments).split(" ")).same();
    assertThat(listing(both.ours)).isEqualTo(listing(both.theirs));
    Cli.Result check = Qemu.run("qemu-img", "check", both.ours.resolve("x.qcow2").toString());
    assertThat(check.exitCode()).as(check.out() + check.err()).isZero();
    // the table's last entry is not padded to 8 bytes, as QEMU writes it: the same file length
    assertThat(java.nio.file.Files.size(both.ours.resolve("x.qcow2"))).as("file length")
        .isEqualTo(java.nio.file.Files.size(both.theirs.resolve("x.qcow2")));
  }

  /** With 2-bit refcounts, two snapshots take the data cluster to 3: a third reference is refused (EINVAL). */
  @ParameterizedTest
  @ValueSource(strings = {"-c s3 @/x.qcow2", "-a s1 @/x.qcow2"})
  void aReferencePastTheRefcountWidthIsRefusedLikeQemuImg(String arguments) {
    Path image = TestImages.scratch().resolve("x.qcow2");
    Qemu.createQcow2(image, "1M", "-o", "refcount_bits=2");
    Qemu.io(image, "qcow2", "write -P 7 0 512");
    Qemu.check("qemu-img", "snapshot", "-c", "s1", image.toString());
    Qemu.check("qemu-img", "snapshot", "-c", "s2", image.toString());
    SideBySide both = new SideBySide().copy(image, "x.qcow2");
    SideBySide.Runs runs = both.run("qemu-img", ("snapshot " + arguments).split(" ")).same();
    assertThat(runs.ours().exitCode()).isEqualTo(1);
    assertThat(listing(both.ours)).isEqualTo(listing(both.theirs));
    // qemu-img leaks the new L1 table's cluster when it refuses a snapshot, and so does qcow4j
    both.run("qemu-img", "check", "@/x.qcow2").same();
    Cli.Result read = Qemu.run("qemu-io", "-f", "qcow2", "-c", "read -P 7 0 512", both.ours.resolve("x.qcow2").toString());
    assertThat(read.out()).contains("read 512/512 bytes").doesNotContain("verification failed");
  }

  @Test
  void rawImagesHaveNoSnapshots() {
    String raw = TestImages.path("full.raw").toString();
    // after qemu-img's warning that probing guessed raw (snapshot takes no -f)
    assertThat(Cli.run("snapshot", "-c", "a", raw).err()).startsWith("WARNING: Image format was not specified")
        .endsWith("qcow4j: Could not create snapshot 'a': -95 (Operation not supported)\n");
    assertThat(Cli.run("snapshot", "-a", "a", raw).err()).endsWith("qcow4j: Could not apply snapshot 'a': Block driver does not support snapshots\n");
    assertThat(Cli.run("snapshot", "-d", "a", raw).err()).endsWith("qcow4j: Could not delete snapshot 'a': snapshot not found\n");
  }

  @Test
  void createdHereAppliedAndDeletedByQemu() {
    Path image = TestImages.scratch().resolve("ours.qcow2");
    Qemu.createQcow2(image, "2M", "-o", "cluster_size=4k");
    Qemu.io(image, "qcow2", "write -P 1 0 64k", "write -P 2 1M 4k");
    assertThat(Cli.run("snapshot", "-c", "before", image.toString()).exitCode()).isZero();
    assertThat(Cli.run("io", "-c", "write -P 3 0 8k", "-c", "discard 1M 4k", "-c", "write -P 4 1536k 4k", image.toString()).exitCode()).isZero();
    assertThat(Cli.run("snapshot", "-c", "after", image.toString()).exitCode()).isZero();
    Qemu.check("qemu-img", "check", image.toString());

    Qemu.check("qemu-img", "snapshot", "-a", "before", image.toString());
    Qemu.io(image, "qcow2", "read -P 1 0 64k", "read -P 2 1M 4k", "read -P 0 1536k 4k");
    Qemu.check("qemu-img", "snapshot", "-d", "before", image.toString());
    Qemu.check("qemu-img", "snapshot", "-a", "after", image.toString());
    Qemu.io(image, "qcow2", "read -P 3 0 8k", "read -P 1 8k 56k", "read -P 0 1M 4k", "read -P 4 1536k 4k");
    Qemu.check("qemu-img", "check", image.toString());
  }

  @Test
  void createdByQemuAppliedAndDeletedHere() {
    Path image = TestImages.scratch().resolve("theirs.qcow2");
    Qemu.createQcow2(image, "2M", "-o", "extended_l2=on,cluster_size=32k");
    Qemu.io(image, "qcow2", "write -P 1 0 64k", "write -P 2 1M 4k");
    Qemu.check("qemu-img", "snapshot", "-c", "before", image.toString());
    Qemu.io(image, "qcow2", "write -P 3 0 8k", "write -z 1M 4k");
    Qemu.check("qemu-img", "snapshot", "-c", "after", image.toString());
    Qemu.check("qemu-img", "resize", image.toString(), "3M");

    assertThat(Cli.run("snapshot", "-a", "1", image.toString()).exitCode()).isZero();
    assertThat(Cli.run("io", "-c", "read -P 1 0 64k", "-c", "read -P 2 1M 4k", "-c", "length", image.toString()).out())
        .contains("2 MiB");
    Qemu.check("qemu-img", "check", image.toString());
    assertThat(Cli.run("snapshot", "-d", "before", image.toString()).exitCode()).isZero();
    assertThat(Cli.run("snapshot", "-a", "after", image.toString()).exitCode()).isZero();
    Qemu.io(image, "qcow2", "read -P 3 0 8k", "read -P 1 8k 56k", "read -P 0 1M 4k");
    assertThat(Cli.run("snapshot", "-d", "after", image.toString()).exitCode()).isZero();
    assertThat(Qemu.check("qemu-img", "snapshot", "-l", image.toString())).isEmpty();
    Cli.Result check = Qemu.run("qemu-img", "check", image.toString());
    assertThat(check.exitCode()).as(check.out() + check.err()).isZero();
  }

  /** The snapshot list with the dates and clocks left out (the two runs do not create at the same second). */
  private static String listing(Path dir) {
    return Qemu.run("qemu-img", "snapshot", "-l", dir.resolve("x.qcow2").toString()).out()
        .replaceAll("\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d", "<date>");
  }
}
